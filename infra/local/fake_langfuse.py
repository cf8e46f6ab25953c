"""A fake Langfuse public API on loopback, serving traces from memory or a JSONL(.gz) file.

Serves the shapes of Langfuse's OpenAPI document for the endpoints iofold reads:
``GET /api/public/traces`` (page-based, filters), ``GET /api/public/traces/{id}``,
``GET /api/public/v2/observations`` (cursor-paged, raw-string io) and
``GET /api/public/observations`` (page-based), behind HTTP Basic auth. Faults on demand:
a 429 with ``Retry-After`` every k-th request, a 500 every m-th, a delay on every response,
and trace ids whose detail answers 404.

    python -m infra.local.fake_langfuse --file traces.langfuse.jsonl.gz --port 3100 --rate-limit-every 5
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import json
import math
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.local.fake_source import FakeSource, FakeSourceHandler

DEFAULT_PUBLIC_KEY = "pk-lf-local"
DEFAULT_SECRET_KEY = "sk-lf-local"


def load_traces(path: str | Path) -> list[dict[str, Any]]:
    """Read TraceWithFullDetails bodies, one JSON object per line (.jsonl or .jsonl.gz)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class FakeLangfuse(FakeSource):
    """A real HTTP server in a background thread that answers like Langfuse's public API."""

    def __init__(
        self,
        traces: Iterable[dict[str, Any]],
        *,
        public_key: str = DEFAULT_PUBLIC_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
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
        self.traces: dict[str, dict[str, Any]] = {}
        for trace in traces:
            self.traces[str(trace["id"])] = trace
        self.public_key = public_key
        self.secret_key = secret_key

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> FakeLangfuse:
        """A fake serving the traces of a JSONL(.gz) file."""
        return cls(load_traces(path), **options)

    def list_traces(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """GET /api/public/traces."""
        page, limit = _int(query, "page", 1), _int(query, "limit", 50)
        if page < 1 or limit < 1:
            return 400, {"message": "page and limit must be positive"}
        matching = [trace for trace in self.traces.values() if _trace_matches(trace, query)]
        order = _first(query, "orderBy") or "timestamp.desc"
        field, _, direction = order.partition(".")
        matching.sort(key=lambda trace: (str(trace.get(field) or ""), str(trace["id"])), reverse=direction == "desc")
        chunk = matching[(page - 1) * limit : page * limit]
        return 200, {"data": [_list_item(trace) for trace in chunk], "meta": _page_meta(page, limit, len(matching))}

    def get_trace(self, trace_id: str) -> tuple[int, dict[str, Any]]:
        """GET /api/public/traces/{traceId}."""
        trace = self.traces.get(trace_id)
        if trace is None or trace_id in self.broken_trace_ids:
            return 404, {"message": f"Trace {trace_id} not found within authorized project"}
        return 200, trace

    def list_observations_v1(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """GET /api/public/observations (page-based)."""
        page, limit = _int(query, "page", 1), _int(query, "limit", 50)
        if page < 1 or limit < 1:
            return 400, {"message": "page and limit must be positive"}
        matching = self._observations(query)
        chunk = matching[(page - 1) * limit : page * limit]
        return 200, {"data": chunk, "meta": _page_meta(page, limit, len(matching))}

    def list_observations_v2(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """GET /api/public/v2/observations (cursor-paged, input/output as raw strings)."""
        limit = min(_int(query, "limit", 50), 1000)
        if limit < 1:
            return 400, {"message": "limit must be positive"}
        offset = 0
        cursor = _first(query, "cursor")
        if cursor:
            try:
                offset = int(json.loads(base64.b64decode(cursor.encode()))["offset"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                return 400, {"message": "invalid cursor"}
        matching = self._observations(query)
        chunk = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        next_cursor = base64.b64encode(json.dumps({"offset": offset + limit}).encode()).decode() if more else None
        return 200, {"data": [_v2_observation(obs) for obs in chunk], "meta": {"cursor": next_cursor}}

    def _observations(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        trace_id = _first(query, "traceId")
        traces = [self.traces[trace_id]] if trace_id in self.traces else ([] if trace_id else list(self.traces.values()))
        wanted_type, wanted_name = _first(query, "type"), _first(query, "name")
        result = []
        for trace in traces:
            for obs in trace.get("observations") or []:
                if wanted_type and obs.get("type") != wanted_type:
                    continue
                if wanted_name and obs.get("name") != wanted_name:
                    continue
                result.append(obs)
        result.sort(key=lambda obs: (str(obs.get("startTime") or ""), str(obs.get("id"))))
        return result


class _Handler(FakeSourceHandler):
    fake: FakeLangfuse

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        query = parse_qs(parts.query, keep_blank_values=False)
        fake = self.fake
        number = self.begin(path)
        if not self._authorized():
            self.send_json(401, {"message": "Invalid credentials. Confirm that you've configured the correct host."})
            return
        if self.send_fault(number):
            return
        if path == "/api/public/health":
            self.send_json(200, {"status": "OK", "version": "fake"})
        elif path == "/api/public/traces":
            self.send_json(*fake.list_traces(query))
        elif path.startswith("/api/public/traces/"):
            self.send_json(*fake.get_trace(unquote(path[len("/api/public/traces/") :])))
        elif path == "/api/public/v2/observations":
            self.send_json(*fake.list_observations_v2(query))
        elif path == "/api/public/observations":
            self.send_json(*fake.list_observations_v1(query))
        else:
            self.send_json(404, {"message": f"no route {path}"})

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (ValueError, binascii.Error):
            return False
        return user == self.fake.public_key and password == self.fake.secret_key


FakeLangfuse.handler = _Handler


def _list_item(trace: dict[str, Any]) -> dict[str, Any]:
    item = {key: value for key, value in trace.items() if key not in ("observations", "scores")}
    item["observations"] = [str(obs.get("id")) for obs in trace.get("observations") or []]
    item["scores"] = [str(score.get("id")) for score in trace.get("scores") or [] if isinstance(score, dict)]
    return item


def _v2_observation(obs: dict[str, Any]) -> dict[str, Any]:
    mapped = {key: value for key, value in obs.items() if key not in ("model", "calculatedTotalCost", "usage")}
    mapped["input"] = _raw_string(obs.get("input"))
    mapped["output"] = _raw_string(obs.get("output"))
    mapped["providedModelName"] = obs.get("model")
    mapped["projectId"] = "fake-project"
    cost = obs.get("calculatedTotalCost")
    if cost is None and isinstance(obs.get("costDetails"), dict):
        cost = obs["costDetails"].get("total")
    mapped["totalCost"] = cost
    mapped["isRootObservation"] = obs.get("parentObservationId") is None
    for key in ("modelId", "inputPrice", "outputPrice", "totalPrice"):
        mapped.setdefault(key, None)
    return mapped


def _raw_string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _trace_matches(trace: dict[str, Any], query: dict[str, list[str]]) -> bool:
    for param, field in (("userId", "userId"), ("name", "name"), ("sessionId", "sessionId")):
        wanted = _first(query, param)
        if wanted is not None and trace.get(field) != wanted:
            return False
    tags = set(trace.get("tags") or [])
    if not set(query.get("tags", [])) <= tags:
        return False
    moment = _parse_time(trace.get("timestamp"))
    start, end = _parse_time(_first(query, "fromTimestamp")), _parse_time(_first(query, "toTimestamp"))
    if start is not None and (moment is None or moment < start):
        return False
    if end is not None and (moment is None or moment >= end):
        return False
    return True


def _page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)}


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    value = _first(query, name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return -1


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def main(argv: list[str] | None = None) -> None:
    """Serve a file of traces (or demo traces) until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", help="JSONL(.gz) of TraceWithFullDetails bodies; demo traces when omitted")
    parser.add_argument("--demo", type=int, default=36, help="number of demo traces when --file is omitted")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--public-key", default=DEFAULT_PUBLIC_KEY)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--rate-limit-every", type=int, default=0, help="answer 429 to every k-th request")
    parser.add_argument("--retry-after", type=float, default=1, help="Retry-After seconds on a 429")
    parser.add_argument("--error-every", type=int, default=0, help="answer 500 to every m-th request")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every response")
    args = parser.parse_args(argv)

    if args.file:
        traces = load_traces(args.file)
    else:
        from infra.local.demo_traces import make_demo_traces

        traces = make_demo_traces(args.demo)
    fake = FakeLangfuse(
        traces,
        public_key=args.public_key,
        secret_key=args.secret_key,
        host=args.host,
        port=args.port,
        rate_limit_every=args.rate_limit_every,
        retry_after_s=args.retry_after,
        error_every=args.error_every,
        delay_s=args.delay,
    ).start()
    print(f"fake Langfuse serving {len(fake.traces)} traces at {fake.base_url}", flush=True)
    print(f"public key {fake.public_key}  secret key {fake.secret_key}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
