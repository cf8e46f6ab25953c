"""``iofold review``: rate an eval set's traces in a terminal, one key per decision.

Each trace is shown as its conversation (who said what, tool calls with their results or
errors), then a key is read: 1 good, 2 bad, 3 unsure, n notes, s skip, u undo, q quit, ? help.
"""

from __future__ import annotations

import json
import os
import sys
import termios
import tty
from typing import IO, Any

import click
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from iofold.client import Client

RATINGS = {"1": "positive", "2": "negative", "3": "neutral"}
LABELS = {"positive": "good", "negative": "bad", "neutral": "unsure"}
ROLE_STYLE = {"user": "bold cyan", "assistant": "bold green", "system": "bold magenta", "tool": "bold yellow"}
HELP = "1 good · 2 bad · 3 unsure · n notes · s skip · u undo · q quit · ? help"
MAX_CHARS = 2000


def _text(value: Any, limit: int = MAX_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more characters)"


def render_trace(trace: Any) -> Group:
    """The trace as a readable conversation (rich renderables; all trace text shown as text, never markup)."""
    head = Text()
    head.append(trace.name or "(unnamed trace)", style="bold")
    head.append(f"  {trace.id}  {trace.timestamp or ''}  {trace.source.platform}", style="dim")
    s = trace.stats
    head.append(f"\n{s.steps} steps · {s.llm_calls} LLM calls · {s.tool_calls} tool calls · "
                f"{s.tool_errors} tool errors · {s.latency_ms} ms", style="dim")
    parts: list[Any] = [head]
    results = {c.id: c for c in trace.tool_calls}
    messages = trace.messages or []
    if not messages and trace.input is not None:
        parts.append(Panel(Text(_text(trace.input)), title="input", title_align="left"))
    for message in messages:
        body = Text(_text(message.content) if message.content not in (None, "") else "")
        for call in message.tool_calls or []:
            name = call.get("name") or (call.get("function") or {}).get("name") or "tool"
            args = call.get("arguments") or (call.get("function") or {}).get("arguments") or {}
            body.append(f"\n→ {name}({_text(args, 300)})", style="yellow")
            done = results.get(call.get("id"))
            if done is not None and done.error:
                body.append(f"\n  ✗ {_text(done.error, 300)}", style="red")
        title = message.role + (f" ({message.name})" if message.name else "")
        parts.append(Panel(body, title=Text(title, style=ROLE_STYLE.get(message.role, "bold")), title_align="left"))
    if trace.output is not None and not messages:
        parts.append(Panel(Text(_text(trace.output)), title="output", title_align="left"))
    errors = [c for c in trace.tool_calls if c.error]
    if errors and not messages:
        parts.append(Text("\n".join(f"✗ {c.name}: {_text(c.error, 300)}" for c in errors), style="red"))
    if trace.error:
        parts.append(Text(f"trace error: {_text(trace.error, 500)}", style="bold red"))
    return Group(*parts)


class KeyReader:
    """Single keys from the terminal, which stays in cbreak mode for the whole session: keys typed
    while the next trace loads are kept (switching to raw mode per key flushes them). Without a
    terminal, keys are read from the input stream as they come (``printf 12s | iofold review …``)."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdin
        self.fd = self.stream.fileno() if self.stream.isatty() else None
        self._saved: list | None = None

    def __enter__(self) -> "KeyReader":
        if self.fd is not None:
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def key(self) -> str:
        """The next key ('q' at the end of the input)."""
        if self.fd is None:
            return self.stream.read(1) or "q"
        data = os.read(self.fd, 1)
        return data.decode(errors="replace") if data else "q"

    def line(self, prompt: str) -> str:
        """A line typed in the terminal's normal (echoing, editable) mode."""
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSANOW, self._saved)
        try:
            if self.fd is None:
                click.echo(f"{prompt}: ", nl=False, err=True)
                return self.stream.readline().rstrip("\n")
            return click.prompt(prompt, default="", show_default=False)
        finally:
            if self._saved is not None:
                tty.setcbreak(self.fd, termios.TCSANOW)


class Reviewer:
    """The review loop over one eval set's queue."""

    def __init__(self, client: Client, eval_set_id: str, *, console: Console, keys: KeyReader):
        self.client, self.eval_set_id, self.console = client, eval_set_id, console
        self.read_key, self.read_line = keys.key, keys.line
        self.rated: list[tuple[str, str]] = []  # (trace id, rating) made in this session, for undo
        self.skipped: set[str] = set()
        self.actions: list[dict] = []

    def _next(self) -> list[str]:
        queue = self.client.review_queue(self.eval_set_id, limit=50)
        return [item.id for item in queue if item.id not in self.skipped]

    def run(self, limit: int = 1000) -> dict:
        """Review until the queue is empty, ``limit`` traces were seen, or q; a summary."""
        eval_set = self.client.get_eval_set(self.eval_set_id)
        self.console.print(Text(f"Reviewing {eval_set.name}: {eval_set.criteria or 'no criteria written'}",
                                style="bold"))
        self.console.print(Text(HELP, style="dim"))
        pending: list[str] = []
        seen = 0
        while seen < limit:
            if not pending:
                pending = self._next()
                if not pending:
                    self.console.print("Nothing left to review.")
                    break
            trace_id = pending.pop(0)
            outcome = self._review_one(trace_id)
            if outcome == "quit":
                break
            if outcome == "undo":
                pending.insert(0, trace_id)
                pending.insert(0, self.actions[-1]["trace_id"])
                continue
            seen += 1
        detail = self.client.get_eval_set(self.eval_set_id)
        summary = {"eval_set_id": self.eval_set_id, "actions": self.actions, "counts": detail.counts.model_dump(),
                   "ready": detail.ready}
        self.console.print(f"Done: {detail.counts.positive} good, {detail.counts.negative} bad, "
                           f"{detail.counts.neutral} unsure in the set" + (" (ready to generate)" if detail.ready
                                                                             else ""))
        return summary

    def _review_one(self, trace_id: str) -> str:
        trace = self.client.get_trace(trace_id)
        self.console.rule()
        self.console.print(render_trace(trace))
        notes = ""
        while True:
            self.console.print(Text(f"[{HELP}]" + (f"  notes: {notes}" if notes else ""), style="dim"))
            key = self.read_key()
            if key in RATINGS:
                self.client.rate(self.eval_set_id, trace_id, RATINGS[key], notes)
                self.rated.append((trace_id, RATINGS[key]))
                self.actions.append({"trace_id": trace_id, "action": "rate", "rating": RATINGS[key], "notes": notes})
                self.console.print(Text(f"rated {LABELS[RATINGS[key]]}", style="bold"))
                return "rated"
            if key == "s":
                self.skipped.add(trace_id)
                self.actions.append({"trace_id": trace_id, "action": "skip"})
                self.console.print("skipped")
                return "skipped"
            if key == "n":
                notes = self.read_line("notes")
            elif key == "u":
                if not self.rated:
                    self.console.print("nothing to undo")
                    continue
                undone, rating = self.rated.pop()
                self.client.delete_feedback(self.eval_set_id, undone)
                self.actions.append({"trace_id": undone, "action": "undo", "rating": rating})
                self.console.print(Text(f"undid {LABELS[rating]} on {undone}", style="bold"))
                return "undo"
            elif key in ("q", "\x1b", "\x04"):
                return "quit"
            elif key == "?":
                self.console.print(HELP)
