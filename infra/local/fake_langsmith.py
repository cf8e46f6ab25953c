"""A fake LangSmith REST API on loopback, serving runs from memory.

Answers the endpoints iofold reads, in LangSmith's shapes: ``GET /api/v1/sessions``
(projects, by ``name``/``id``), ``POST /api/v1/runs/query`` (``session``, ``trace``,
``is_root``, ``start_time``, a ``filter`` expression subset: ``and``, ``eq``, ``lt``, ``gt``,
``has``; cursor paging) and ``GET /api/v1/runs/{id}``, behind the ``x-api-key`` header.
Faults on demand: a 429 with ``Retry-After`` every k-th request, a 500 every m-th, a delay
on every response, and trace ids whose run query answers 404.

    python -m infra.local.fake_langsmith --traces 20 --port 3200 --rate-limit-every 5
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.local.fake_source import FakeSource, FakeSourceHandler

DEFAULT_API_KEY = "lsv2_pt_local"
DEFAULT_SESSION_ID = "5f0c7d1e-0000-4000-8000-000000000001"
DEFAULT_PROJECT = "default"
MAX_LIMIT = 100


class FakeLangSmith(FakeSource):
    """A real HTTP server in a background thread that answers like LangSmith's REST API."""

    def __init__(
        self,
        runs: Iterable[dict[str, Any]],
        *,
        api_key: str = DEFAULT_API_KEY,
        sessions: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_every: int = 0,
        retry_after_s: float = 1,
        error_every: int = 0,
        delay_s: float = 0.0,
        broken_trace_ids: Iterable[str] = (),
    ):
        super().__init__(host=host, port=port, rate_limit_every=rate_limit_every, retry_after_s=retry_after_s,
                         error_every=error_every, delay_s=delay_s, broken_trace_ids=broken_trace_ids)
        self.runs: dict[str, dict[str, Any]] = {str(run["id"]): run for run in runs}
        known = sorted({str(run.get("session_id")) for run in self.runs.values() if run.get("session_id")})
        self.sessions = dict(sessions) if sessions else {sid: (DEFAULT_PROJECT if i == 0 else f"project-{i}") for i, sid in enumerate(known)}
        self.api_key = api_key

    # --- endpoint logic (pure: query/body in, (status, body) out) -------------------------

    def list_sessions(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        """GET /api/v1/sessions."""
        names, ids = set(query.get("name", [])), set(query.get("id", []))
        found = [
            {"id": sid, "name": name, "tenant_id": "fake-tenant"}
            for sid, name in self.sessions.items()
            if (not names or name in names) and (not ids or sid in ids)
        ]
        return 200, found

    def query_runs(self, body: Any) -> tuple[int, Any]:
        """POST /api/v1/runs/query."""
        if not isinstance(body, dict):
            return 422, {"detail": "body must be a JSON object"}
        sessions, trace = body.get("session"), body.get("trace")
        if not sessions and not trace:
            return 400, {"detail": "at least one of session, trace, reference_example or run ids is required"}
        if trace and str(trace) in self.broken_trace_ids:
            return 404, {"detail": f"trace {trace} not found"}
        limit = body.get("limit", MAX_LIMIT)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            return 422, {"detail": f"limit must be between 1 and {MAX_LIMIT}"}
        try:
            offset = _decode_offset(body.get("cursor"))
            condition = parse_filter(body["filter"]) if body.get("filter") else None
        except ValueError as exc:
            return 400, {"detail": str(exc)}
        start = _parse_time(body.get("start_time"))
        matching = []
        for run in self.runs.values():
            if sessions and str(run.get("session_id")) not in {str(s) for s in sessions}:
                continue
            if trace and str(run.get("trace_id")) != str(trace):
                continue
            if body.get("is_root") and run.get("parent_run_id"):
                continue
            if start is not None and (_parse_time(run.get("start_time")) or start) < start:
                continue
            if condition is not None and not _holds(condition, run):
                continue
            matching.append(run)
        matching.sort(key=lambda run: (str(run.get("start_time") or ""), str(run["id"])), reverse=True)
        chunk = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        next_cursor = base64.b64encode(json.dumps({"offset": offset + limit}).encode()).decode() if more else None
        return 200, {"runs": chunk, "cursors": {"next": next_cursor, "prev": None}}

    def get_run(self, run_id: str) -> tuple[int, Any]:
        """GET /api/v1/runs/{run_id}."""
        run = self.runs.get(run_id)
        if run is None:
            return 404, {"detail": "Run not found"}
        return 200, run


class _Handler(FakeSourceHandler):
    fake: FakeLangSmith
    error_key = "detail"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        query = parse_qs(parts.query, keep_blank_values=False)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake = self.fake
        number = self.begin(path)
        if self.headers.get("x-api-key") != fake.api_key:
            self.send_json(401, {"detail": "Invalid token"})
            return
        if self.send_fault(number):
            return
        if method == "GET" and path == "/api/v1/sessions":
            self.send_json(*fake.list_sessions(query))
        elif method == "POST" and path == "/api/v1/runs/query":
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                self.send_json(422, {"detail": "invalid JSON"})
                return
            self.send_json(*fake.query_runs(body))
        elif method == "GET" and path.startswith("/api/v1/runs/"):
            self.send_json(*fake.get_run(unquote(path[len("/api/v1/runs/") :])))
        else:
            self.send_json(404, {"detail": "Not Found"})


FakeLangSmith.handler = _Handler


# --- filter expressions ------------------------------------------------------------------


def parse_filter(text: str) -> Any:
    """Parse a LangSmith filter expression subset into nested ``(op, [args])`` tuples; ValueError if malformed."""
    node, rest = _parse_node(text.strip())
    if rest.strip():
        raise ValueError(f"unexpected text after filter: {rest!r}")
    return node


def _parse_node(text: str) -> tuple[Any, str]:
    text = text.lstrip()
    if text.startswith('"'):
        decoder = json.JSONDecoder()
        value, end = decoder.raw_decode(text)
        return value, text[end:]
    name_end = 0
    while name_end < len(text) and (text[name_end].isalnum() or text[name_end] == "_"):
        name_end += 1
    if name_end == 0:
        raise ValueError(f"cannot parse filter at {text[:20]!r}")
    name, rest = text[:name_end], text[name_end:].lstrip()
    if not rest.startswith("("):
        return ("field", name), rest
    rest = rest[1:]
    args: list[Any] = []
    while True:
        arg, rest = _parse_node(rest)
        args.append(arg)
        rest = rest.lstrip()
        if rest.startswith(","):
            rest = rest[1:]
        elif rest.startswith(")"):
            return (name, args), rest[1:]
        else:
            raise ValueError(f"expected , or ) in filter at {rest[:20]!r}")


def _holds(node: Any, run: dict[str, Any]) -> bool:
    op, args = node
    if op == "and":
        return all(_holds(arg, run) for arg in args)
    if op == "or":
        return any(_holds(arg, run) for arg in args)
    if op not in ("eq", "neq", "lt", "gt", "has") or len(args) != 2 or args[0][0] != "field":
        raise ValueError(f"unsupported filter {op}")
    field, wanted = args[0][1], args[1]
    if field == "metadata_key":
        return wanted in _metadata(run)
    if field == "metadata_value":
        return wanted in [str(value) for value in _metadata(run).values()]
    value = run.get(field)
    if op == "has":
        return wanted in (value or [])
    if field in ("start_time", "end_time"):
        moment, bound = _parse_time(value), _parse_time(wanted)
        if moment is None or bound is None:
            return False
        return {"eq": moment == bound, "neq": moment != bound, "lt": moment < bound, "gt": moment > bound}[op]
    return {"eq": value == wanted, "neq": value != wanted, "lt": str(value) < str(wanted), "gt": str(value) > str(wanted)}[op]


def _metadata(run: dict[str, Any]) -> dict[str, Any]:
    extra = run.get("extra") if isinstance(run.get("extra"), dict) else {}
    return extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}


# --- demo data ---------------------------------------------------------------------------


def make_demo_runs(n: int, *, session_id: str = DEFAULT_SESSION_ID, start: datetime | None = None) -> list[dict[str, Any]]:
    """Runs of ``n`` small LangGraph-style agent traces: chain -> llm (tool call) -> tool -> llm answer."""
    start = start or datetime(2025, 3, 1, tzinfo=timezone.utc)
    runs: list[dict[str, Any]] = []
    for i in range(n):
        t0 = start + timedelta(minutes=i)
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"langsmith-demo/{session_id}/{i}/{k}")) for k in range(4)]
        root, first_llm, tool, second_llm = ids
        question = f"What is the weather in city {i}?"
        call_id = f"call_{i}"
        failed = i % 5 == 4
        tool_output = "error: weather service down" if failed else f"{10 + i}C and sunny"
        answer = "Sorry, I could not get the weather." if failed else f"It is {10 + i}C and sunny in city {i}."
        human = _lc("HumanMessage", {"content": question, "type": "human"})
        asked = _lc("AIMessage", {"content": "", "type": "ai", "tool_calls": [{"name": "get_weather", "args": {"city": f"city {i}"}, "id": call_id, "type": "tool_call"}]})
        tool_message = _lc("ToolMessage", {"content": tool_output, "type": "tool", "name": "get_weather", "tool_call_id": call_id})
        final = _lc("AIMessage", {"content": answer, "type": "ai"})
        common = {"trace_id": root, "session_id": session_id, "tags": ["demo"], "extra": {"metadata": {"user_id": f"user-{i % 3}", "thread_id": f"thread-{i}"}}}

        def at(seconds: float) -> str:
            return (t0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

        runs.append({**common, "id": root, "parent_run_id": None, "run_type": "chain", "name": "weather-agent",
                     "start_time": at(0), "end_time": at(4), "inputs": {"messages": [human]},
                     "outputs": {"messages": [human, asked, tool_message, final]}, "error": None,
                     "prompt_tokens": 90, "completion_tokens": 30, "total_tokens": 120, "total_cost": 0.0012,
                     "child_run_ids": [first_llm, tool, second_llm], "app_path": f"/o/fake/projects/p/{session_id}/r/{root}"})
        runs.append({**common, "id": first_llm, "parent_run_id": root, "run_type": "llm", "name": "ChatOpenAI",
                     "start_time": at(0.1), "end_time": at(1), "inputs": {"messages": [[_lc("SystemMessage", {"content": "You are a weather bot.", "type": "system"}), human]]},
                     "outputs": {"generations": [[{"text": "", "message": asked}]], "llm_output": {"model_name": "gpt-4o-mini"}},
                     "error": None, "prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50, "total_cost": 0.0005,
                     "extra": {"metadata": {"ls_model_name": "gpt-4o-mini"}}})
        runs.append({**common, "id": tool, "parent_run_id": root, "run_type": "tool", "name": "get_weather",
                     "start_time": at(1.1), "end_time": at(2), "inputs": {"input": {"city": f"city {i}"}},
                     "outputs": None if failed else {"output": tool_message}, "error": tool_output if failed else None,
                     "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "total_cost": None,
                     "extra": {"metadata": {"tool_call_id": call_id}}})
        runs.append({**common, "id": second_llm, "parent_run_id": root, "run_type": "llm", "name": "ChatOpenAI",
                     "start_time": at(2.1), "end_time": at(4), "inputs": {"messages": [[_lc("SystemMessage", {"content": "You are a weather bot.", "type": "system"}), human, asked, tool_message]]},
                     "outputs": {"generations": [[{"text": answer, "message": final}]]},
                     "error": None, "prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70, "total_cost": 0.0007,
                     "extra": {"metadata": {"ls_model_name": "gpt-4o-mini"}}})
    return runs


def _lc(class_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", class_name], "kwargs": kwargs}


def _decode_offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(str(cursor).encode()))["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValueError("invalid cursor") from exc


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def main(argv: list[str] | None = None) -> None:
    """Serve demo runs until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=20)
    parser.add_argument("--port", type=int, default=3200)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--rate-limit-every", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=1)
    parser.add_argument("--error-every", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeLangSmith(make_demo_runs(args.traces), api_key=args.api_key, port=args.port,
                         rate_limit_every=args.rate_limit_every, retry_after_s=args.retry_after,
                         error_every=args.error_every, delay_s=args.delay).start()
    print(f"fake LangSmith on {fake.base_url} (x-api-key: {fake.api_key}, {args.traces} traces)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
