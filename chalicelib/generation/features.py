"""The offline generator's feature library: readable helpers over the unified trace.

Every feature is a call to one of the helper functions in ``HELPERS_SOURCE`` with literal
arguments (``called(trace, "refund")``, ``user_turn_count(trace) >= 6``). The same source
is executed here to measure features on training traces and copied into the generated
eval module, so the rules the inducer chose are exactly the rules that run. The helpers
use only what the eval sandbox allows (``re``, ``json``, no underscore names).
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chalicelib.codegen import inert

HELPERS_SOURCE = r'''
def text_of(value):
    """Plain text of a message content: a string, a list of blocks, or any JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(text_of(part) for part in value)
    if isinstance(value, dict):
        for key in ("text", "content", "output"):
            if key in value:
                return text_of(value[key])
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


NEGATED = re.compile(r"(\bnot|\bnever|n't|\bdont|\bcannot|\bno longer)\s+$")


def has_phrase(text, phrase):
    """True when phrase occurs in text as whole words (case-insensitive), not negated by the word before it
    ("not sure" does not say "sure", "has not completed" does not say "completed")."""
    lowered = text.lower()
    phrase = phrase.lower()
    if phrase not in lowered:
        return False
    for match in re.finditer(r"\b" + re.escape(phrase) + r"\b", lowered):
        if not NEGATED.search(lowered, max(0, match.start() - 12), match.start()):
            return True
    return False


def tool_names(trace):
    """Names of the tools called, in order."""
    return [str(call.get("name") or "") for call in trace.get("tool_calls") or []]


def user_turns(trace):
    """Text of each user turn, lower-cased, in order."""
    messages = trace.get("messages") or []
    return [text_of(m.get("content")).lower() for m in messages if m.get("role") == "user"]


def final_answer(trace):
    """The agent's last non-empty reply, lower-cased (the trace output when there is none)."""
    for message in reversed(trace.get("messages") or []):
        if message.get("role") == "assistant":
            text = text_of(message.get("content")).strip()
            if text and text != "None":
                return text.lower()
    return text_of(trace.get("output")).lower()


def events(trace):
    """The conversation in order: ("user", text) turns and ("call", tool call dict) events."""
    calls = list(trace.get("tool_calls") or [])
    messages = trace.get("messages") or []
    answered = any(m.get("role") == "tool" for m in messages)
    found = []
    position = 0
    for message in messages:
        role = message.get("role")
        if role == "user":
            found.append(("user", text_of(message.get("content")).lower()))
        taken = 0
        if answered and role == "tool":
            taken = 1
        elif not answered and role == "assistant":
            taken = len(message.get("tool_calls") or [])
        while taken > 0 and position < len(calls):
            found.append(("call", calls[position]))
            position += 1
            taken -= 1
    for call in calls[position:]:
        found.append(("call", call))
    return found


def timeline(trace):
    """The conversation in order: ("user", text, False) turns and ("tool", name, failed) calls."""
    out = []
    for kind, item in events(trace):
        if kind == "user":
            out.append(("user", item, False))
        else:
            out.append(("tool", str(item.get("name") or ""), bool(item.get("error"))))
    return out


def called(trace, name):
    """True when the agent called the named tool."""
    return name in tool_names(trace)


def call_count(trace, name):
    """How many times the agent called the named tool."""
    return tool_names(trace).count(name)


def call_failed(trace, name):
    """True when a call to the named tool returned an error."""
    return any(c.get("name") == name and c.get("error") for c in trace.get("tool_calls") or [])


def tool_error_count(trace):
    """How many tool calls returned an error."""
    return sum(1 for call in trace.get("tool_calls") or [] if call.get("error"))


def tool_call_count(trace):
    """How many tool calls the agent made."""
    return len(trace.get("tool_calls") or [])


def distinct_tool_count(trace):
    """How many different tools the agent called."""
    return len(set(tool_names(trace)))


def user_turn_count(trace):
    """How many turns the user took."""
    return len(user_turns(trace))


def step_count(trace):
    """How many steps (spans) the trace has."""
    return (trace.get("stats") or {}).get("steps") or len(trace.get("steps") or [])


def llm_call_count(trace):
    """How many LLM calls the trace made."""
    return (trace.get("stats") or {}).get("llm_calls") or 0


def latency_seconds(trace):
    """Wall-clock duration of the trace in seconds."""
    return ((trace.get("stats") or {}).get("latency_ms") or 0) / 1000


def answer_length(trace):
    """Characters in the agent's final reply."""
    return len(final_answer(trace))


def answer_is_question(trace):
    """True when the agent's final reply ends with a question."""
    return final_answer(trace).rstrip().endswith("?")


def output_is_structured(trace):
    """True when the trace output is a JSON object or list rather than text."""
    return isinstance(trace.get("output"), (dict, list))


def user_said(trace, phrase):
    """True when any user turn contains the phrase."""
    return any(has_phrase(turn, phrase) for turn in user_turns(trace))


def last_user_turn_says(trace, phrase):
    """True when the user's last turn contains the phrase."""
    turns = user_turns(trace)
    return bool(turns) and has_phrase(turns[-1], phrase)


def answer_says(trace, phrase):
    """True when the agent's final reply contains the phrase."""
    return has_phrase(final_answer(trace), phrase)


def called_after_user_said(trace, name, phrase):
    """True when some call to the tool came right after a user turn containing the phrase."""
    last_user = ""
    for kind, text, failed in timeline(trace):
        if kind == "user":
            last_user = text
        elif text == name and has_phrase(last_user, phrase):
            return True
    return False


def called_without_user_saying(trace, name, phrase):
    """True when some call to the tool came without the user's latest turn containing the phrase."""
    last_user = ""
    for kind, text, failed in timeline(trace):
        if kind == "user":
            last_user = text
        elif text == name and not has_phrase(last_user, phrase):
            return True
    return False


def called_before(trace, first, second):
    """True when both tools were called and the first one was called earlier."""
    names = tool_names(trace)
    return first in names and second in names and names.index(first) < names.index(second)


def called_without_prior(trace, name, prior):
    """True when the tool was called with no earlier call to the prior tool."""
    names = tool_names(trace)
    return name in names and prior not in names[: names.index(name)]


def retried_after_error(trace):
    """True when a failed tool call was followed by a successful call to the same tool."""
    failed_names = set()
    for kind, text, failed in timeline(trace):
        if kind != "tool":
            continue
        if failed:
            failed_names.add(text)
        elif text in failed_names:
            return True
    return False


def error_not_retried(trace):
    """True when some failed tool call was never followed by a successful call to the same tool."""
    open_failures = set()
    for kind, text, failed in timeline(trace):
        if kind != "tool":
            continue
        if failed:
            open_failures.add(text)
        else:
            open_failures.discard(text)
    return bool(open_failures)


def user_turns_after_first_error(trace):
    """How many user turns came after the first failed tool call (0 when none failed)."""
    seen_error = False
    count = 0
    for kind, text, failed in timeline(trace):
        if kind == "tool" and failed:
            seen_error = True
        elif kind == "user" and seen_error:
            count += 1
    return count


def values_in(value, found, distinctive=True):
    """Collect the scalar values of a tool result (parsed when it is JSON text), as lower-case text: the
    distinctive ones (strings of 4-40 chars, numbers of 3+ digits), or every one when ``distinctive`` is false."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                return values_in(json.loads(text), found, distinctive)
            except ValueError:
                pass
        if not distinctive or 4 <= len(text) <= 40:
            found.add(text.lower())
    elif isinstance(value, bool) or value is None:
        return found
    elif isinstance(value, (int, float)):
        if not distinctive:
            found.add(str(value).lower())
        elif abs(value) >= 100:
            found.add(str(int(value)) if value == int(value) else str(value))
    elif isinstance(value, dict):
        for item in value.values():
            values_in(item, found, distinctive)
    elif isinstance(value, list):
        for item in value:
            values_in(item, found, distinctive)
    return found


def answer_repeats_tool_value(trace, name=None):
    """True when the final reply repeats a value returned by a tool (by the named tool if given)."""
    answer = final_answer(trace)
    if not answer:
        return False
    for call in trace.get("tool_calls") or []:
        if call.get("error") or (name is not None and call.get("name") != name):
            continue
        for value in values_in(call.get("result"), set()):
            if value in answer:
                return True
    return False


READ_WORDS = ("get", "search", "list", "find", "check", "lookup", "look", "read", "fetch", "query", "retrieve", "show",
              "describe", "view", "inspect", "verify", "validate", "status")
WRITE_WORDS = ("book", "update", "cancel", "create", "delete", "send", "refund", "modify", "set", "add",
               "remove", "write", "post", "pay", "issue", "change", "submit", "place", "exchange", "return",
               "reset", "unlock", "lock", "grant", "revoke", "assign", "approve", "reject", "close", "open", "schedule",
               "register", "activate", "deactivate", "enable", "disable", "apply", "save", "upload", "insert", "put",
               "patch", "wipe", "erase", "charge", "edit", "rename", "archive", "restore")


def tool_kind(name):
    """"read", "write" or "other", from the first verb among the words of a tool's name (``get_order``,
    ``orders.cancel``, ``resetPassword``: a namespace may come first)."""
    for word in re.split(r"[_\-./: ]+|(?<=[a-z0-9])(?=[A-Z])", name):
        word = word.lower()
        if word in READ_WORDS:
            return "read"
        if word in WRITE_WORDS:
            return "write"
    return "other"


def write_without_read(trace):
    """True when a write tool was called before any read tool."""
    for name in tool_names(trace):
        kind = tool_kind(name)
        if kind == "read":
            return False
        if kind == "write":
            return True
    return False


def write_count(trace):
    """How many write-tool calls (book, update, cancel, ...) the agent made."""
    return sum(1 for name in tool_names(trace) if tool_kind(name) == "write")


CONFIRMATION_WORDS = ("yes", "confirm", "confirmed", "proceed", "go ahead", "sure", "correct", "okay")


def write_without_confirmation(trace):
    """True when a write tool was called while the user's latest turn said no yes/confirm/proceed word."""
    last_user = ""
    for kind, text, failed in timeline(trace):
        if kind == "user":
            last_user = text
        elif tool_kind(text) == "write" and not any(has_phrase(last_user, word) for word in CONFIRMATION_WORDS):
            return True
    return False


def repeated_write(trace):
    """True when the same write tool was called more than once."""
    writes = [name for name in tool_names(trace) if tool_kind(name) == "write"]
    return len(writes) != len(set(writes))


def used_unseen_value(trace):
    """True when a tool call's arguments hold a value no earlier user turn or tool result mentioned."""
    seen = ""
    for kind, item in events(trace):
        if kind == "user":
            seen += " " + item
            continue
        for value in values_in(item.get("arguments"), set()):
            if value not in seen:
                return True
        seen += " " + text_of(item.get("result")).lower() + " " + text_of(item.get("error")).lower()
    return False


def transferred_to_human(trace):
    """True when the agent handed the conversation to a human (a transfer tool or the reply says so)."""
    for name in tool_names(trace):
        lowered = name.lower()
        if "transfer" in lowered or "human" in lowered or "escalat" in lowered:
            return True
    answer = final_answer(trace)
    return "human agent" in answer or "transfer you" in answer or "transferring you" in answer


def calls_to(trace, tools):
    """The calls made to any of the named tools, in order."""
    return [call for call in trace.get("tool_calls") or [] if str(call.get("name") or "") in tools]


def count_calls(trace, tools):
    """How many calls were made to any of the named tools."""
    return len(calls_to(trace, tools))


SUCCESS_FLAGS = ("ok", "success", "succeeded", "successful", "verified", "approved", "valid", "passed", "authorized",
                 "allowed", "confirmed", "granted", "found")
FAILURE_STATUSES = ("failed", "failure", "error", "denied", "rejected", "invalid", "declined", "not found")


def result_fields(call):
    """The call's result as a dict (parsed when it is JSON object text); an empty dict otherwise."""
    result = call.get("result")
    if isinstance(result, str) and result.strip()[:1] == "{":
        try:
            result = json.loads(result)
        except ValueError:
            return {}
    return result if isinstance(result, dict) else {}


def call_succeeded(call):
    """True when the call returned no error and its result does not report a failure: no false
    ok/success/verified/approved... flag and no failed/denied/rejected... status at its top level."""
    if call.get("error"):
        return False
    for key, value in result_fields(call).items():
        key = str(key).lower()
        if value is False and key in SUCCESS_FLAGS:
            return False
        if key in ("status", "state", "result") and str(value).lower() in FAILURE_STATUSES:
            return False
    return True


def every_call_preceded_by(trace, tools, priors):
    """True when each call to one of the tools came after a successful call to one of the prior tools
    (also true when none of the tools was called): "may do X only after Y"."""
    done = False
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        if name in tools and not done:
            return False
        if name in priors and call_succeeded(call):
            done = True
    return True


def argument_value(call, key):
    """The call's argument ``key`` as comparable text (None when the call has no such argument)."""
    arguments = call.get("arguments")
    if not isinstance(arguments, dict) or arguments.get(key) is None:
        return None
    return json.dumps(arguments[key], sort_keys=True, default=str).lower()


def every_call_preceded_by_same(trace, tools, priors, key):
    """True when each call to one of the tools came after a successful call to one of the prior tools with the
    same value of the argument ``key``: "may do X to an object only after Y on that same object"."""
    done = set()
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        value = argument_value(call, key)
        if name in tools and value not in done and not (value is None and done):
            return False
        if name in priors and call_succeeded(call) and value is not None:
            done.add(value)
    return True


def every_call_preceded_by_flag(trace, tools, priors, flag):
    """True when each call to one of the tools came after a call to one of the prior tools whose result said
    ``flag`` is true (also true when none of the tools was called): "may do X only when Y said it is <flag>"."""
    said = False
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        if name in tools and not said:
            return False
        if name in priors and not call.get("error") and result_fields(call).get(flag) is True:
            said = True
    return True


def every_call_when_field(trace, tools, sources, field, values, wanted=True, key=None, unknown=False):
    """True when each call to one of the tools came when the latest successful call to one of the sources had
    returned ``field`` as one of the values (``wanted``) or as none of them (not ``wanted``); with ``key``, the
    latest such call on the same value of the argument ``key``. A call with no such result before it passes only
    when ``unknown``: "cancel only orders the lookup shows as pending" (it must have been looked up), "never change
    a basic economy reservation" (what was never looked up is not known to be one)."""
    latest = {}
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        where = argument_value(call, key) if key else None
        if name in tools:
            seen = latest.get(where)
            if (seen is None and not unknown) or (seen is not None and (seen in values) != wanted):
                return False
        value = result_fields(call).get(field) if name in sources and call_succeeded(call) else None
        if value is not None:
            latest[where] = plain_value(value)
    return True


def every_argument_within(trace, tools, key, limit, upper=True):
    """True when no call to one of the tools gave the argument ``key`` a number above ``limit`` (``upper``) or
    below it (not ``upper``), failed calls included (the agent tried): "never refund more than $100", "no more
    than one checked bag". Calls without a number there are not judged."""
    for call in trace.get("tool_calls") or []:
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        if str(call.get("name") or "") not in tools or isinstance(arguments.get(key), bool):
            continue
        try:
            value = float(str(arguments.get(key)).strip().lstrip("$").replace(",", ""))
        except ValueError:
            continue
        if (value > limit) if upper else (value < limit):
            return False
    return True


def every_call_preceded_by_all(trace, tools, prior_sets):
    """True when each call to one of the tools came after a successful call to a tool of every prior set
    (also true when none of the tools was called): "may do X only after Y and Z"."""
    done = set()
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        if name in tools and len(done) < len(prior_sets):
            return False
        for k, priors in enumerate(prior_sets):
            if name in priors and call_succeeded(call):
                done.add(k)
    return True


def at_most_calls_per(trace, tools, key, limit):
    """True when no value of the argument ``key`` had more than ``limit`` successful calls to the tools:
    "at most N X per object"."""
    counts = {}
    for call in calls_to(trace, tools):
        value = argument_value(call, key)
        if value is not None and call_succeeded(call):
            counts[value] = counts.get(value, 0) + 1
            if counts[value] > limit:
                return False
    return True


def actions_succeeded(trace, tools):
    """True when the tools were called and each one's last call succeeded: the agent's actions went through."""
    last = {}
    for call in calls_to(trace, tools):
        last[str(call.get("name") or "")] = call_succeeded(call)
    return bool(last) and all(last.values())


def answer_claims_unbacked(trace, tools, phrases):
    """True when the final reply says one of the phrases (the work is done) but the actions did not all go
    through (``actions_succeeded`` is false): a claim of success the tool calls do not back."""
    return answer_says_any(trace, phrases) and not actions_succeeded(trace, tools)


def answer_claims_none_done(trace, tools, phrases):
    """True when the final reply says one of the phrases (the work is done) but no call to the tools succeeded:
    "never say it is all done when nothing went through"."""
    return answer_says_any(trace, phrases) and not any(call_succeeded(call) for call in calls_to(trace, tools))


def success_signs(trace, tools, done, refusal):
    """Signs the user's goal was met minus signs it was not, one point each: the actions went through (+1); a
    failed call was never retried successfully (-1); the reply claims the work is done while the actions did
    not go through (-1); the reply apologizes or refuses (-1), unless a tool said no (``result_said_no``: declining
    what the tools ruled out is the right outcome); the conversation was handed to a human (-1)."""
    score = 1 if actions_succeeded(trace, tools) else 0
    score -= 1 if error_not_retried(trace) else 0
    score -= 1 if answer_claims_unbacked(trace, tools, done) else 0
    score -= 1 if answer_says_any(trace, refusal) and not result_said_no(trace) else 0
    score -= 1 if transferred_to_human(trace) else 0
    return score


def result_said_no(trace):
    """True when a successful tool call returned a false flag at its top level ("eligible": false): a reason
    the tools gave for not doing what was asked."""
    return any(call_succeeded(call) and any(value is False for value in result_fields(call).values())
               for call in trace.get("tool_calls") or [])


def at_most_calls(trace, tools, limit):
    """True when the tools were called at most ``limit`` times in all: "X at most N times"."""
    return count_calls(trace, tools) <= limit


def every_call_right_after(trace, tools, priors):
    """True when each call to one of the tools came directly after a call to one of the prior tools."""
    previous = ""
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        if name in tools and previous not in priors:
            return False
        previous = name
    return True


def every_call_after_user_said(trace, tools, phrases, within="turn"):
    """True when each call to one of the tools came after the user said one of the phrases: in the
    user's latest turn ("turn"), in a turn with no other call since ("call"), or in any turn ("trace")."""
    said = False
    for kind, item in events(trace):
        if kind == "user":
            hit = any(has_phrase(item, phrase) for phrase in phrases)
            said = hit or (said and within == "trace")
            continue
        if str(item.get("name") or "") in tools and not said:
            return False
        if within == "call":
            said = False
    return True


def error_then_retry(trace, tools, succeeded=True):
    """True when a call to one of the tools failed and the same tool was called again later
    (and that later call succeeded, when succeeded is True)."""
    failed = set()
    for call in calls_to(trace, tools):
        name = str(call.get("name") or "")
        if name in failed and (not succeeded or not call.get("error")):
            return True
        if call.get("error"):
            failed.add(name)
    return False


def every_call_followed_by(trace, triggers, tools):
    """True when each successful call to one of the triggers was followed, later, by a call to one of the tools:
    "after a refund, the agent sends the receipt"."""
    due = False
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        if name in tools:
            due = False
        if name in triggers and call_succeeded(call):
            due = True
    return not due


def called_after_failures(trace, tools, times, same=True):
    """True when no tool failed ``times`` times (the same tool when ``same``, any tools otherwise), or one of the
    tools was called after that failure: "after two failed attempts, the agent hands over to a human"."""
    failed = {}
    due = False
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        if due and name in tools:
            return True
        if call.get("error"):
            key = name if same else ""
            failed[key] = failed.get(key, 0) + 1
            due = due or failed[key] >= times
    return not due


def every_failure_retried(trace, tools):
    """True when every failed call to one of the tools was followed by a successful call to the same tool."""
    open_failures = set()
    for call in calls_to(trace, tools):
        name = str(call.get("name") or "")
        if call.get("error"):
            open_failures.add(name)
        else:
            open_failures.discard(name)
    return not open_failures


def answer_says_any(trace, phrases):
    """True when the agent's final reply contains one of the phrases."""
    answer = final_answer(trace)
    return any(has_phrase(answer, phrase) for phrase in phrases)


def user_said_any(trace, phrases):
    """True when some user turn contains one of the phrases."""
    return any(has_phrase(turn, phrase) for turn in user_turns(trace) for phrase in phrases)


def answer_repeats_value_of(trace, tools):
    """True when the final reply repeats a value returned by one of the tools."""
    return any(answer_repeats_tool_value(trace, name) for name in tools)


def answer_states_result_of(trace, tools):
    """True when no call to the tools succeeded, or the final reply repeats a value or number one of them returned."""
    results = [call.get("result") for call in calls_to(trace, tools) if not call.get("error")]
    if not results:
        return True
    answer = final_answer(trace)
    for result in results:
        if numbers_in(text_of(result)) & numbers_in(answer):
            return True
        if any(value in answer for value in values_in(result, set())):
            return True
    return False


def numbers_in(text):
    """Numbers of two or more digits in a text, without thousands separators."""
    found = set()
    for number in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
        number = number.replace(",", "")
        if "." in number:
            number = number.rstrip("0").rstrip(".")
        if len(number) >= 2:
            found.add(number)
    return found


def answer_numbers_grounded(trace):
    """True when every number in the final reply appeared earlier: in a user turn, a tool result or an argument."""
    answer = final_answer(trace)
    seen = " ".join(user_turns(trace))
    for call in trace.get("tool_calls") or []:
        seen += " " + text_of(call.get("result")) + " " + json.dumps(call.get("arguments"), default=str)
    return numbers_in(answer) <= numbers_in(seen)


def args_seen_before(trace, tools, source="any"):
    """True when every argument value of calls to the tools appeared earlier: in a user turn ("user"),
    or in a user turn or an earlier tool result ("any")."""
    seen = ""
    for kind, item in events(trace):
        if kind == "user":
            seen += " " + item
            continue
        if str(item.get("name") or "") in tools:
            for value in values_in(item.get("arguments"), set()):
                if value not in seen:
                    return False
        if source == "any":
            seen += " " + text_of(item.get("result")).lower()
    return True


def answer_names_object_of(trace, tools, key):
    """True when the final reply contains the ``key`` of the last successful call to one of the tools (its
    argument, else the same field of its result): "the reply names the reservation it changed". True when no
    such call succeeded or it had no such value."""
    value = None
    for call in calls_to(trace, tools):
        if call_succeeded(call):
            arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
            found = arguments.get(key)
            value = found if found is not None else result_fields(call).get(key)
    if value is None or isinstance(value, (bool, dict, list)) or not str(value).strip():
        return True
    return str(value).strip().lower() in final_answer(trace)


def plain_value(value):
    """A value as compared across calls: a number by its value (298, 298.0 and "298.00" are one), text lowercased."""
    text = str(value).strip().lower()
    try:
        return repr(float(text))
    except ValueError:
        return text


def argument_matches_field(trace, tools, key, sources, field):
    """True when every successful call to one of the tools gave the argument ``key`` a value that an earlier
    successful call to one of the sources returned as its ``field``: "every refund is for the total the lookup
    returned". Calls without that argument are not judged."""
    returned = set()
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        if name in tools and call_succeeded(call) and arguments.get(key) is not None:
            if plain_value(arguments[key]) not in returned:
                return False
        value = result_fields(call).get(field) if name in sources and call_succeeded(call) else None
        if value is not None:
            returned.add(plain_value(value))
    return True


def argument_from_result(trace, key, sources):
    """True when every value given for the argument ``key`` to a tool other than the sources was returned
    earlier by a successful call to one of the source tools: "acts only on the id the lookup returned"."""
    returned = set()
    for call in trace.get("tool_calls") or []:
        name = str(call.get("name") or "")
        arguments = call.get("arguments")
        if name not in sources and isinstance(arguments, dict) and arguments.get(key) is not None:
            if str(arguments[key]).strip().lower() not in returned:
                return False
        if name in sources and call_succeeded(call):
            values_in(call.get("result"), returned, False)
    return True
'''


def load_helpers() -> dict[str, Any]:
    """Execute the helper source and return its namespace (what generated code will see)."""
    namespace: dict[str, Any] = {"json": json, "re": re}
    exec(compile(HELPERS_SOURCE, "<iofold-offline-helpers>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace


HELPERS = load_helpers()


def helper_dependencies() -> dict[str, set[str]]:
    """For each helper, the helpers (and module constants) it refers to, transitively."""
    tree = ast.parse(HELPERS_SOURCE)
    defined = {
        node.name if isinstance(node, ast.FunctionDef) else node.targets[0].id: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) or (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name))
    }
    direct = {
        name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defined and n.id != name}
        for name, node in defined.items()
    }
    closed: dict[str, set[str]] = {}
    for name in defined:
        seen: set[str] = set()
        todo = [name]
        while todo:
            for dep in direct[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        closed[name] = seen
    return closed


def helper_source_for(names: Iterable[str]) -> str:
    """Source of the named helpers and everything they use, in library order."""
    deps = helper_dependencies()
    wanted: set[str] = set()
    for name in names:
        wanted.add(name)
        wanted |= deps[name]
    tree = ast.parse(HELPERS_SOURCE)
    lines = HELPERS_SOURCE.splitlines()
    chunks = []
    for node in tree.body:
        name = node.name if isinstance(node, ast.FunctionDef) else getattr(node, "targets", [None])[0]
        name = name if isinstance(name, str) else getattr(name, "id", None)
        if name in wanted:
            chunks.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
    return "\n\n\n".join(chunks)


@dataclass(frozen=True)
class Feature:
    """One candidate condition on a trace: a helper call, optionally compared with a threshold."""

    helper: str
    args: tuple[Any, ...] = ()
    threshold: float | None = None
    complexity: float = 1  # lower wins ties (whole steps rank readings; criteria.TIE breaks what they leave)
    description: str = ""
    evidence: str = ""  # what proposed it, in plain words (criteria or notes words); empty for the library's own
    family: str = ""  # the look-alike conditions it is counted with for its prior cost (default: its helper)
    violation: bool = False  # the words name it as what must not happen ("never say it is all done"): as the rule
    # the criteria state, a trace passes when it does not hold
    clause: int = -1  # which sentence of the criteria proposed it (0, 1, ...); -1: notes, the default reading, library
    module_source: str = ""  # code defining ``helper`` when it is not a library helper (an LLM's predicate module,
    # chalicelib/generation/hybrid.py): emitted once with the rules that use it instead of the library's helpers

    def expression(self) -> str:
        """The Python expression this feature stands for in generated code."""
        return self.source

    @cached_property
    def source(self) -> str:
        """``expression()``, computed once (the inducer sorts by it many times)."""
        call = f"{self.helper}({', '.join(['trace', *(argument_source(a) for a in self.args)])})"
        if self.threshold is None:
            return call
        return f"{call} >= {_number(self.threshold)}"

    def raw(self, trace: dict[str, Any]) -> Any:
        """The helper's value on a trace (before the threshold)."""
        return HELPERS[self.helper](trace, *self.args)

    def holds(self, raw: Any) -> bool:
        """Whether the condition is true given the helper's value."""
        if self.threshold is None:
            return bool(raw)
        return float(raw or 0) >= self.threshold

    def describe(self, negated: bool = False) -> str:
        """Plain words for the condition (or its negation)."""
        text = self.description or self.expression()
        if self.threshold is not None:
            return f"{text} is {'below' if negated else 'at least'} {_number(self.threshold)}"
        return f"not: {text}" if negated else text


def argument_source(value: Any) -> str:
    """A helper argument as Python source: text only through ``inert`` (tool names, phrases), tuples of
    such, and the plain constants True/False/None and numbers (never outside text)."""
    if isinstance(value, str):
        return inert(value, "literal")
    if isinstance(value, tuple):
        inner = ", ".join(argument_source(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return _number(float(value))
    raise TypeError(f"a feature argument must be text, a tuple or a number, not {type(value).__name__}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


STOPWORDS = frozenset(
    """a an the and or but if of to in on at for with from by as is are was were be been being it its this that these
    those i me my we our you your he she they them his her their what which who whom do does did have has had can could
    would should will shall may might must not no so than too very just also there here then about into over under up
    down out off again once all any both each few more most other some such only own same s t don now am im ive id
    please thank thanks hi hello""".split()
)
WORD = re.compile(r"[a-z][a-z0-9']{2,24}")
PHRASE_COMPLEXITY = 4
CONFIRMATIONS = ("yes", "confirm", "proceed", "go ahead", "sure", "correct", "okay")
NUMERIC_HELPERS = {
    "tool_call_count": "number of tool calls",
    "distinct_tool_count": "number of different tools called",
    "user_turn_count": "number of user turns",
    "step_count": "number of steps",
    "llm_call_count": "number of LLM calls",
    "latency_seconds": "duration in seconds",
    "answer_length": "length of the final reply",
    "tool_error_count": "number of tool errors",
    "user_turns_after_first_error": "user turns after the first tool error",
    "write_count": "number of write-tool calls",
}
FLAG_HELPERS = {
    "answer_is_question": "the final reply is a question",
    "output_is_structured": "the output is structured JSON",
    "retried_after_error": "a failed tool call was retried successfully",
    "error_not_retried": "a failed tool call was never retried successfully",
    "answer_repeats_tool_value": "the final reply repeats a value a tool returned",
    "write_without_read": "a write tool was called before any read tool",
    "transferred_to_human": "the conversation was handed to a human",
    "write_without_confirmation": "a write tool was called without the user's latest turn confirming",
    "repeated_write": "the same write tool was called more than once",
    "used_unseen_value": "a tool call used a value no earlier user turn or tool result mentioned",
}


def phrases_of(text: str) -> set[str]:
    """Candidate phrases in a text: content words and two-word sequences."""
    words = WORD.findall(text.lower())
    found = {w for w in words if w not in STOPWORDS}
    found |= {f"{a} {b}" for a, b in zip(words, words[1:]) if not (a in STOPWORDS and b in STOPWORDS)}
    return found


def mine_phrases(texts: Sequence[str], *, min_docs: int, limit: int) -> list[str]:
    """Phrases found in at least min_docs of the texts (never one trace's literal), most common first."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(phrases_of(text))
    ceiling = len(texts) - min_docs
    frequent = [(p, c) for p, c in counts.items() if min_docs <= c <= max(ceiling, min_docs)]
    frequent.sort(key=lambda pc: (-pc[1], pc[0]))
    return [p for p, _ in frequent[:limit]]


def candidate_features(traces: Sequence[dict[str, Any]]) -> list[Feature]:
    """Every feature worth trying on these training traces (tools, phrases, counts, relations)."""
    n = len(traces)
    min_docs = 2 if n < 15 else 3
    tool_docs: Counter[str] = Counter()
    for trace in traces:
        tool_docs.update(set(HELPERS["tool_names"](trace)))
    tools = sorted(t for t, c in tool_docs.items() if t and c >= min(min_docs, 2))
    features: list[Feature] = []
    for helper, words in NUMERIC_HELPERS.items():
        features.append(Feature(helper, (), 0.0, 1, words))  # threshold filled by the learner
    for helper, words in FLAG_HELPERS.items():
        features.append(Feature(helper, (), None, 2 if "repeat" in helper or "retr" in helper else 1, words))
    for tool in tools:
        features.append(Feature("called", (tool,), None, 1, f"{tool} was called"))
        features.append(Feature("call_count", (tool,), 0.0, 2, f"calls to {tool}"))
        features.append(Feature("call_failed", (tool,), None, 2, f"a call to {tool} failed"))
        features.append(Feature("answer_repeats_tool_value", (tool,), None, 3, f"the final reply repeats a value {tool} returned"))
    for first in tools:
        for second in tools:
            if first != second:
                features.append(Feature("called_before", (first, second), None, 3, f"{first} was called before {second}"))
                features.append(
                    Feature("called_without_prior", (second, first), None, 3, f"{second} was called with no {first} before it")
                )
    user_texts = [" ".join(HELPERS["user_turns"](t)) for t in traces]
    answers = [HELPERS["final_answer"](t) for t in traces]
    last_turns = [(HELPERS["user_turns"](t) or [""])[-1] for t in traces]
    for phrase in mine_phrases(user_texts, min_docs=min_docs, limit=60):
        features.append(Feature("user_said", (phrase,), None, PHRASE_COMPLEXITY, f"the user said {phrase!r}"))
    for phrase in mine_phrases(last_turns, min_docs=min_docs, limit=30):
        features.append(Feature("last_user_turn_says", (phrase,), None, PHRASE_COMPLEXITY, f"the user's last turn says {phrase!r}"))
    for phrase in mine_phrases(answers, min_docs=min_docs, limit=60):
        features.append(Feature("answer_says", (phrase,), None, PHRASE_COMPLEXITY, f"the final reply says {phrase!r}"))
    write_tools = [t for t in tools if HELPERS["tool_kind"](t) == "write"] or tools
    for tool in write_tools:
        for phrase in CONFIRMATIONS:
            features.append(
                Feature("called_after_user_said", (tool, phrase), None, 3, f"{tool} was called right after the user said {phrase!r}")
            )
            features.append(
                Feature(
                    "called_without_user_saying",
                    (tool, phrase),
                    None,
                    3,
                    f"{tool} was called without the user's latest turn saying {phrase!r}",
                )
            )
    return features


def feature_table(features: Sequence[Feature], traces: Sequence[dict[str, Any]],
                  memo: dict[tuple[Any, ...], Any] | None = None) -> list[list[Any]]:
    """Raw helper values: one row per feature, one column per trace. ``memo`` (optional, for benchmarks that
    see the same traces many times) keeps values by trace id, helper and arguments across calls."""
    cache: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}
    rows = []
    for feature in features:
        key = (feature.helper, feature.args)
        if key not in cache:
            if memo is None:
                cache[key] = [feature.raw(trace) for trace in traces]
            else:
                cache[key] = [memo[k] if (k := (trace.get("id"), *key)) in memo else memo.setdefault(k, feature.raw(trace))
                              for trace in traces]
        rows.append(cache[key])
    return rows
