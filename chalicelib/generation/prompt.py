"""The meta-prompt that asks an LLM for an eval function, with traces minified to a token budget.

Tokens are estimated as characters / 4. The budget covers the system text and the first
user message; examples are chosen (balanced positive/negative first, neutral last) and
each is shrunk by clipping strings and lists until the whole prompt fits.

A minified trace keeps the unified trace's structure (messages with roles, tool calls with
name, arguments, result and error, step summaries, stats) and drops what an eval cannot
generalize from or that repeats: ids, source pointers, and each step's copy of the
conversation history.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.errors import GenerationError
from chalicelib.generation.base import GenerationRequest, LabeledTrace
from chalicelib.sandbox.child import ALLOWED_MODULES
from chalicelib.sandbox.validate import MAX_SOURCE_BYTES

ALLOWED_IMPORTS = ALLOWED_MODULES
MAX_CODE_BYTES = MAX_SOURCE_BYTES
DEFAULT_PROMPT_TOKEN_BUDGET = 30_000
MIN_TRACE_CHARS = 1500
CHARS_PER_TOKEN = 4

# (longest string kept, longest list kept), tried in order until a trace fits its share.
_CLIP_LEVELS = ((4000, 60), (2000, 40), (800, 24), (400, 16), (200, 10), (100, 8), (60, 6), (30, 4))
_CRITERIA_CHARS = 6000
_INSTRUCTIONS_CHARS = 3000
_NOTES_CHARS = 600
_PREVIOUS_CODE_CHARS = 12_000
_HINT_RESERVE_TOKENS = 50
_SHARED_MIN_CHARS = 300
_SHARED_MAX_TEXTS = 3
_SHARED_TEXT_CHARS = 12_000

# Added to every candidate's prompt but the first, so parallel candidates explore different rules.
DIVERSITY_HINTS = (
    "For this candidate, lean on evidence from tool calls: which tools ran, their arguments, results and errors.",
    "For this candidate, lean on the conversation's final assistant message and the trace output.",
    "For this candidate, combine several weak signals into a small score with a threshold.",
    "For this candidate, prefer the fewest rules that separate the labeled examples.",
    "For this candidate, look at the order of events: what happened before and after key tool calls.",
)

SYSTEM_TEXT = """\
You write Python eval functions for iofold. An eval function reads one trace of an LLM \
agent (as a dict) and decides whether the agent behaved well by the user's criteria.

## The function contract
- Define exactly one top-level function named eval_…: `def {function_name}(trace: dict) -> tuple[bool, str]:`.
  Helper functions (not named eval_…) are fine. At top level, only imports, function definitions and constant assignments (literals, or `re.compile(...)`, `frozenset(...)`).
- Return `(True, reason)` when the trace is good (the human would rate it positive) and \
`(False, reason)` when it is bad. The reason is one short sentence naming the evidence.
- Only these imports are allowed: {allowed_imports}. Nothing else (no os, sys, subprocess, \
requests, io, pathlib, random, time, operator). Do not reach other modules through attributes \
(`re.sys`, `json.codecs`).
- No name or attribute may start with an underscore (no dunder access, no `_private` helpers).
- Do not use the names: eval exec compile open getattr setattr delattr type globals vars locals \
dir breakpoint help input exit quit super object memoryview classmethod staticmethod property \
(as bare names; `re.compile` is fine).
- Do not use `str.format` or `format_map`; build strings with f-strings or `+`.
- No string annotations, classes, `with`, `global`, `nonlocal`, `yield`, async code, or \
`match` class patterns; no file, network or clock access.
- Keep the module under {max_code_bytes} bytes. It must be deterministic and must never raise: \
use `.get()` with defaults, check types before indexing, guard against None and empty lists.
- Generalize from the examples: never mention trace ids, user ids or timestamps, and never \
copy long literal text from one example; look for behaviour that explains the ratings.

## The trace dict your function receives (the unified trace)
{{"id", "name", "timestamp", "user_id", "session_id", "tags": [str], "metadata": dict,
 "input": any JSON (first user input), "output": any JSON (final output),
 "messages": [{{"role": "user|assistant|system|tool", "content": str or list or None,
               "tool_calls": [dict], "tool_call_id": str|None, "name": str|None}}],
 "tool_calls": [{{"id", "name": str, "arguments": dict (or str when not JSON), "result": any,
                 "error": str|None, "step_id"}}],
 "steps": [{{"id", "parent_id", "type": "llm|tool|retriever|agent|chain|span|event", "name",
            "start_time", "end_time", "latency_ms": int|None, "input", "output", "messages",
            "tool_calls", "model", "usage": {{"input_tokens", "output_tokens"}}, "cost_usd",
            "error": str|None, "metadata"}}],
 "stats": {{"steps", "llm_calls", "tool_calls", "tool_errors", "latency_ms", "input_tokens",
           "output_tokens", "cost_usd"}},
 "error": str|None}}
`messages` is the whole conversation once, in order; `tool_calls` pairs each call with its \
result or error. Any field may be missing, None or empty.

The examples you are shown are abbreviated to fit: long strings are cut where you see \
`…[+N chars]…`, long lists where you see `…N more…`, ids and repeated history are left out. \
Your function receives the complete dict, so do not depend on the abbreviations.

## How to answer
First two to five sentences on the pattern that separates good from bad traces, then \
exactly one ```python code block with the complete module. Nothing after the code block."""


class Prompt(BaseModel):
    """The text sent to the model for one generation request."""

    system: str
    user: str
    function_name: str = Field(description="eval_<eval_name>, the function the code must define")
    shown: dict[str, int] = Field(description="examples shown per rating, plus refinement failures")
    omitted: int = Field(default=0, description="labeled examples left out to respect the budget")
    estimated_tokens: int

    def text(self) -> str:
        """Return the whole prompt as one string (for the version record)."""
        return f"{self.system}\n\n---\n\n{self.user}"


def estimate_tokens(text: str) -> int:
    """Estimate the token count of text (about four characters per token)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def clip_text(text: str, limit: int) -> str:
    """Shorten text to about limit characters, keeping its head and tail."""
    if len(text) <= limit:
        return text
    head = max(limit * 2 // 3, 1)
    tail = max(limit - head, 0)
    cut = len(text) - head - tail
    return f"{text[:head]}…[+{cut} chars]…{text[len(text) - tail:] if tail else ''}"


def _clip(value: Any, text_limit: int, list_limit: int, depth: int = 12) -> Any:
    if isinstance(value, str):
        return clip_text(value, text_limit)
    if isinstance(value, (list, dict)) and depth <= 0:
        return "…"
    if isinstance(value, list):
        items = [_clip(v, text_limit, list_limit, depth - 1) for v in value[: list_limit + 1]]
        if len(value) <= list_limit:
            return items
        head = max(list_limit * 2 // 3, 1)
        tail = max(list_limit - head, 1)
        ends = [_clip(v, text_limit, list_limit, depth - 1) for v in value[-tail:]]
        return [*items[:head], f"…{len(value) - head - tail} more…", *ends]
    if isinstance(value, dict):
        keys = list(value)
        kept = {
            clip_text(str(k), text_limit): _clip(value[k], text_limit, list_limit, depth - 1)
            for k in keys[: max(list_limit, 12)]
        }
        if len(keys) > len(kept):
            kept["…"] = f"{len(keys) - len(kept)} more keys"
        return kept
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return clip_text(str(value), text_limit)


def _pruned(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v not in (None, "", [], {})}


def _call_view(call: Any) -> Any:
    if not isinstance(call, dict):
        return call
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return _pruned(
        {
            "name": call.get("name") or function.get("name"),
            "arguments": call.get("arguments", function.get("arguments")),
            "result": call.get("result"),
            "error": call.get("error"),
        }
    )


def _message_view(message: Any, shared: dict[str, str]) -> Any:
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, str) and content in shared:
        content = f"«shared text {shared[content]}, shown once above»"
    return _pruned(
        {
            "role": message.get("role"),
            "name": message.get("name"),
            "content": content,
            "tool_calls": [_call_view(c) for c in message.get("tool_calls") or []],
        }
    )


def _step_view(step: Any) -> Any:
    if not isinstance(step, dict):
        return step
    # A step's input/output/messages repeat the conversation already shown once in `messages`.
    return _pruned(
        {
            "type": step.get("type"),
            "name": step.get("name"),
            "model": step.get("model"),
            "latency_ms": step.get("latency_ms"),
            "error": step.get("error"),
        }
    )


def _trace_view(trace: dict[str, Any], shared: dict[str, str], keep_steps: bool = True) -> dict[str, Any]:
    return _pruned(
        {
            "name": trace.get("name"),
            "tags": trace.get("tags"),
            "metadata": trace.get("metadata"),
            "input": trace.get("input"),
            "output": trace.get("output"),
            "messages": [_message_view(m, shared) for m in trace.get("messages") or []],
            "tool_calls": [_call_view(c) for c in trace.get("tool_calls") or []],
            "steps": [_step_view(s) for s in trace.get("steps") or []] if keep_steps else None,
            "stats": trace.get("stats"),
            "error": trace.get("error"),
        }
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def minify_trace(trace: dict[str, Any], max_chars: int, shared: dict[str, str] | None = None) -> str:
    """Return a compact JSON rendering of a unified trace, at most max_chars long.

    ``shared`` maps message texts shown once elsewhere in the prompt to their label.
    """
    shared = shared or {}
    view = _trace_view(trace, shared)
    text = _dump(view)
    if len(text) <= max_chars:
        return text
    for text_limit, list_limit in _CLIP_LEVELS:
        text = _dump(_clip(view, text_limit, list_limit))
        if len(text) <= max_chars:
            return text
    # Last resorts: step summaries go first, then nesting, then all but a skeleton.
    bare = _trace_view(trace, shared, keep_steps=False)
    for text_limit, list_limit, depth in ((60, 6, 6), (30, 4, 4), (16, 2, 3)):
        text = _dump(_clip(bare, text_limit, list_limit, depth))
        if len(text) <= max_chars:
            return text
    messages = trace.get("messages") if isinstance(trace.get("messages"), list) else []
    calls = trace.get("tool_calls") if isinstance(trace.get("tool_calls"), list) else []
    skeleton = {
        "…": "trace too large to show in full",
        "roles": [m.get("role") for m in messages if isinstance(m, dict)],
        "tool_names": [c.get("name") for c in calls if isinstance(c, dict)],
        "stats": trace.get("stats"),
    }
    text = _dump(_clip(skeleton, 16, 8, 2))
    if len(text) <= max_chars:
        return text
    return _dump({"…": "trace too large to show"})


def _rating_label(rating: str) -> str:
    return {
        "positive": "positive (good: your function should return True)",
        "negative": "negative (bad: your function should return False)",
        "neutral": "neutral (shown for context only, not scored)",
    }[rating]


def _render_example(title: str, example: LabeledTrace, max_chars: int, shared: dict[str, str]) -> str:
    notes = clip_text(example.notes.strip(), _NOTES_CHARS) if example.notes.strip() else "(none)"
    head = f"### {title} — rating: {_rating_label(example.rating)}\nHuman notes: {notes}\n```json\n"
    body = minify_trace(example.trace, max(max_chars - len(head) - 5, 200), shared)
    return f"{head}{body}\n```"


def _interleave(*groups: list[LabeledTrace]) -> list[LabeledTrace]:
    out: list[LabeledTrace] = []
    for i in range(max((len(g) for g in groups), default=0)):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def _ordered_examples(request: GenerationRequest) -> list[LabeledTrace]:
    failure_ids = {f.trace.get("id") for f in request.previous_failures if f.trace.get("id")}
    rest = [e for e in request.examples if e.trace.get("id") not in failure_ids or e.trace.get("id") is None]
    positive = [e for e in rest if e.rating == "positive"]
    negative = [e for e in rest if e.rating == "negative"]
    neutral = [e for e in rest if e.rating == "neutral"]
    return _interleave(positive, negative) + neutral


def _header(request: GenerationRequest, function_name: str) -> str:
    criteria = clip_text(request.criteria.strip(), _CRITERIA_CHARS) or "(no criteria text: infer it from the ratings and notes)"
    parts = [
        f"Write `{function_name}`.",
        f"## The criteria (what a good trace is)\n{criteria}",
    ]
    if request.instructions.strip():
        parts.append(f"## Extra instructions from the user\n{clip_text(request.instructions.strip(), _INSTRUCTIONS_CHARS)}")
    counts = {r: sum(1 for e in request.examples if e.rating == r) for r in ("positive", "negative", "neutral")}
    parts.append(
        "## Labeled examples\n"
        f"The eval set has {counts['positive']} positive, {counts['negative']} negative and "
        f"{counts['neutral']} neutral ratings. The human notes say why each rating was given: "
        "they are the strongest hint to the rule."
    )
    return "\n\n".join(parts)


def _refinement(request: GenerationRequest) -> str:
    if not request.previous_code:
        return ""
    code = clip_text(request.previous_code, _PREVIOUS_CODE_CHARS)
    return (
        "## Refinement\nThis is the current version of the function. It disagrees with the human on "
        "the traces listed under 'Traces the current version gets wrong'. Write an improved version "
        "that keeps what it gets right and fixes those cases without special-casing them.\n"
        f"```python\n{code}\n```"
    )


def _predicates(request: GenerationRequest) -> str:
    """Asks for named predicates next to the eval (the hybrid generator fits and selects them)."""
    if request.predicates <= 0:
        return ""
    return (
        f"## Predicates\nIn the same module, also define up to {request.predicates} small predicates, each "
        "`def pred_<what_it_checks>(trace: dict) -> bool:` with a one-line docstring saying in plain words what it "
        "checks. Each tests ONE observable behaviour the criteria or the notes talk about (a tool called or not, "
        "one event before another, the user's consent before a change, an error followed by a retry, what the "
        "final answer says). They need not decide the rating alone: iofold measures each one on the rated traces, "
        "combines the useful ones with its own features, and keeps only what holds up under cross-validation. "
        "The same rules apply to predicates as to the eval function (allowed imports, no underscores, never raise)."
    )


def _footer(function_name: str) -> str:
    return (
        f"## Your answer\nExplain the separating pattern in a few sentences, then give the complete module "
        f"defining `{function_name}(trace: dict) -> tuple[bool, str]` in one ```python block."
    )


def build_prompt(request: GenerationRequest, token_budget: int = DEFAULT_PROMPT_TOKEN_BUDGET) -> Prompt:
    """Build the meta-prompt for a request, fitting examples and a diversity hint into token_budget."""
    function_name = f"eval_{request.eval_name}"
    system = SYSTEM_TEXT.format(
        function_name=function_name,
        allowed_imports=" ".join(ALLOWED_IMPORTS),
        max_code_bytes=MAX_CODE_BYTES,
    )
    fixed = [_header(request, function_name), _refinement(request), _predicates(request), _footer(function_name)]
    budget_chars = token_budget * CHARS_PER_TOKEN - len(system) - sum(len(p) + 2 for p in fixed) - 200
    budget_chars -= _HINT_RESERVE_TOKENS * CHARS_PER_TOKEN
    if budget_chars < 2 * MIN_TRACE_CHARS:
        raise GenerationError(
            f"prompt token budget {token_budget} is too small for the instructions and two examples"
        )

    failures = list(request.previous_failures)
    ordered = _ordered_examples(request)
    keep = min(len(failures) + len(ordered), budget_chars // MIN_TRACE_CHARS)
    while True:
        chosen_failures = failures[:keep]
        chosen = ordered[: max(keep - len(chosen_failures), 0)]
        user = _assemble(fixed, chosen_failures, chosen, len(ordered) - len(chosen), budget_chars)
        total = estimate_tokens(system) + estimate_tokens(user) + _HINT_RESERVE_TOKENS
        if total <= token_budget or keep <= 1:
            break
        keep -= 1
    if total > token_budget:
        raise GenerationError(f"could not fit the prompt into {token_budget} tokens")
    shown = {r: sum(1 for e in chosen if e.rating == r) for r in ("positive", "negative", "neutral")}
    shown["failures"] = len(chosen_failures)
    return Prompt(
        system=system,
        user=user,
        function_name=function_name,
        shown=shown,
        omitted=len(ordered) + len(failures) - len(chosen) - len(chosen_failures),
        estimated_tokens=total,
    )


def _shared_texts(examples: list[LabeledTrace]) -> dict[str, str]:
    """Long message texts found verbatim in several traces (a system prompt, a policy), labeled S1, S2…"""
    counts: Counter[str] = Counter()
    for example in examples:
        messages = example.trace.get("messages")
        texts = [m.get("content") for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
        counts.update({t for t in texts if isinstance(t, str) and len(t) >= _SHARED_MIN_CHARS})
    common = sorted((t for t, n in counts.items() if n >= 2), key=lambda t: counts[t] * len(t), reverse=True)
    return {text: f"S{i + 1}" for i, text in enumerate(common[:_SHARED_MAX_TEXTS])}


def _shared_section(shared: dict[str, str], examples: list[LabeledTrace], max_chars: int) -> str:
    if not shared:
        return ""
    per_text = min(_SHARED_TEXT_CHARS, max_chars // len(shared) - 80)
    if per_text < 200:
        return ""
    blocks = ["## Text shared by several traces\nThese messages appear verbatim in several traces below, "
              "which show «shared text Sn» in their place."]
    for text, label in shared.items():
        n = sum(1 for e in examples if any(isinstance(m, dict) and m.get("content") == text
                                            for m in e.trace.get("messages") or []))
        blocks.append(f"### {label} (in {n} traces)\n```text\n{clip_text(text, per_text)}\n```")
    return "\n\n".join(blocks)


def _wrong_verdict(failure: LabeledTrace) -> str:
    """What the current version said on a contradiction: the opposite of the human's rating."""
    return "fail" if failure.rating == "positive" else "pass"


def _assemble(
    fixed: list[str],
    failures: list[LabeledTrace],
    examples: list[LabeledTrace],
    omitted: int,
    budget_chars: int,
) -> str:
    entries = [("Trace {n} the current version gets wrong (it returned " + _wrong_verdict(f) + ")", f)
               for f in failures] + [("Example {n}", e) for e in examples]
    shared = _shared_texts([ex for _, ex in entries])
    shared_section = _shared_section(shared, [ex for _, ex in entries], budget_chars // 4)
    budget_chars -= len(shared_section) + 2
    share = budget_chars // max(len(entries), 1)
    rendered = [_render_example(title.replace("{n}", str(i + 1)), ex, share, shared)
                for i, (title, ex) in enumerate(entries)]
    # Hand the room small traces did not use to the ones that were clipped.
    spare = budget_chars - sum(len(r) + 2 for r in rendered)
    clipped = [i for i, r in enumerate(rendered) if len(r) >= share - 50]
    if spare > 0 and clipped:
        extra = spare // len(clipped)
        for i in clipped:
            title, ex = entries[i]
            rendered[i] = _render_example(title.replace("{n}", str(i + 1)), ex, share + extra, shared)
    header, refinement, predicates, footer = fixed
    sections = [header]
    if refinement:
        sections.append(refinement)
    if predicates:
        sections.append(predicates)
    if shared_section:
        sections.append(shared_section)
    if failures:
        sections.append("## Traces the current version gets wrong\n" + "\n\n".join(rendered[: len(failures)]))
    example_blocks = rendered[len(failures) :]
    note = f"\n({omitted} more labeled examples were left out to fit the prompt.)" if omitted > 0 else ""
    sections.append("\n\n".join(example_blocks) + note)
    sections.append(footer)
    return "\n\n".join(s for s in sections if s)
