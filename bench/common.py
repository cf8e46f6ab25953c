"""What every bench script shares: the local stack started in-process (as tests/conftest.py
does) behind the real Chalice HTTP server, an httpx API caller, medians and ranges, and a
report that prints markdown tables and writes them to ``bench/results/<name>.md`` with the
machine and the date.

    with local_stack() as stack:
        api = stack.new_workspace("bench")
        job = api.ok("POST", "/v1/traces/import", json={...}, status=202)
        api.wait_job(job["job_id"])
    report = Report("import", "Import")
    report.table(["figure", "median", "range"], [["traces/s", fmt(median(xs)), fmt_range(xs)]])
    report.write()
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from chalicelib.jobs.polling import poll_job

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
TAUBENCH = SHARED_DATA / "taubench-airline"

BENCH_ENV = {
    "IOFOLD_ALLOW_SIGNUP": "true",
    "IOFOLD_RESOURCE_PREFIX": "iofold-bench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "IOFOLD_LOG_LEVEL": "WARNING",
    "IOFOLD_ALLOW_PRIVATE_SOURCES": "1",  # the fake Langfuse listens on loopback
}

T = TypeVar("T")


# --- statistics -------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def value_range(values: Sequence[float]) -> tuple[float, float]:
    """(min, max) of a non-empty sequence."""
    if not values:
        raise ValueError("range of no values")
    return float(min(values)), float(max(values))


def fmt(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, without scientific notation for ordinary sizes."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - int(_floor_log10(magnitude)))
    return f"{value:,.{decimals}f}"


def fmt_range(values: Sequence[float], digits: int = 3) -> str:
    """``min–max`` of the values, formatted like :func:`fmt`."""
    low, high = value_range(values)
    return f"{fmt(low, digits)}–{fmt(high, digits)}"


def _floor_log10(x: float) -> int:
    exponent = 0
    while x >= 10:
        x /= 10
        exponent += 1
    while x < 1:
        x *= 10
        exponent -= 1
    return exponent


def time_call(fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn`` once; its result and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def repeat_timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    return [time_call(fn)[1] for _ in range(repeats)]


# --- report -----------------------------------------------------------------------------

def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; every row must have as many cells as there are headers."""
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells, expected {len(headers)}")

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return "\n".join([line(headers), "|" + "|".join("---" for _ in headers) + "|", *(line(r) for r in rows)])


def machine_info() -> dict[str, str]:
    """Where the numbers were measured: CPU, cores, load, OS, Python, moto."""
    info = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count() or "?"),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
    }
    try:
        load = os.getloadavg()
        info["load (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in load)
    except OSError:
        pass
    try:
        from importlib.metadata import version

        info["moto"] = version("moto")
    except ImportError:
        pass
    return info


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for text in cpuinfo.read_text(errors="replace").splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@dataclass
class Report:
    """A bench's results: tables and notes, printed and written to ``bench/results/<name>.md``."""

    name: str
    title: str
    results_dir: Path = RESULTS_DIR
    blocks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str | None = None) -> None:
        """Add a table (with an optional caption line above it)."""
        block = markdown_table(headers, rows)
        self.blocks.append(f"{caption}\n\n{block}" if caption else block)

    def note(self, text: str) -> None:
        """Add a note printed under the tables."""
        self.notes.append(text)

    def render(self, when: dt.datetime | None = None, machine: dict[str, str] | None = None) -> str:
        """The whole report as markdown."""
        when = when or dt.datetime.now(dt.timezone.utc)
        machine = machine if machine is not None else machine_info()
        parts = [f"# {self.title}", "",
                 f"Measured {when.strftime('%Y-%m-%d %H:%M UTC')} by `python -m bench.{self.name}`.", "",
                 "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()), ""]
        for block in self.blocks:
            parts += [block, ""]
        if self.notes:
            parts += ["Notes:", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(parts)

    def write(self) -> Path:
        """Print the report and write it to ``<results_dir>/<name>.md``; the path."""
        text = self.render()
        print(text, flush=True)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / f"{self.name}.md"
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        return path


def log(message: str) -> None:
    """Progress on stderr-free stdout, flushed (bench runs are long)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- API caller -------------------------------------------------------------------------

class ApiError(AssertionError):
    """An API call answered something other than what the bench expected."""


class ApiClient:
    """A caller of the iofold API over real HTTP, signed in with a workspace key (or anonymous)."""

    def __init__(self, base_url: str, key: str | None = None, workspace_id: str | None = None, *,
                 http: httpx.Client | None = None, timeout_s: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.workspace_id = workspace_id
        self.http = http or httpx.Client(timeout=timeout_s)

    def call(self, method: str, path: str, *, json: Any = None, content: bytes | str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """One request; the raw response."""
        merged = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        merged.update(headers or {})
        return self.http.request(method, self.base_url + path, json=json, content=content, headers=merged)

    def ok(self, method: str, path: str, *, status: int | None = None, **kw: Any) -> Any:
        """Call and require a 2xx (or exactly ``status``); the JSON body (None when empty)."""
        response = self.call(method, path, **kw)
        if response.status_code >= 300 or (status is not None and response.status_code != status):
            raise ApiError(f"{method} {path} -> {response.status_code}: {response.text[:500]!r}")
        return response.json() if response.content else None

    def wait_job(self, job_id: str, timeout_s: float = 600, poll_s: float = 0.2) -> dict:
        """Poll a job until it ends; the job."""
        return poll_job(lambda: self.ok("GET", f"/jobs/{job_id}"), timeout_s=timeout_s, interval_s=poll_s)

    def list_all(self, path: str, limit: int = 200) -> list[dict]:
        """Every item of a cursor-paged list endpoint (``items`` + ``next_cursor``)."""
        items: list[dict] = []
        cursor: str | None = None
        sep = "&" if "?" in path else "?"
        while True:
            query = f"{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = self.ok("GET", path + query)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()


# --- the local stack --------------------------------------------------------------------

@dataclass
class BenchStack:
    """The running local stack: moto + state machines + handlers, and the API on ``api_url``."""

    api_url: str
    endpoint_url: str
    local: Any = None  # the LocalStack (infra/local/stack.py)

    def client(self, key: str | None = None, workspace_id: str | None = None) -> ApiClient:
        """An API caller for this stack."""
        return ApiClient(self.api_url, key, workspace_id)

    def new_workspace(self, name: str = "bench") -> ApiClient:
        """Sign up a fresh workspace; an API caller holding its owner key."""
        anon = self.client()
        try:
            created = anon.ok("POST", "/workspaces", json={"name": name}, status=201)
        finally:
            anon.close()
        return self.client(created["api_key"], created["workspace"]["id"])


def _quiet_handler_class() -> type:
    from infra.local.dev import api_request_handler

    class QuietHandler(api_request_handler()):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            """Keep the bench output to its own progress lines."""

    return QuietHandler


@contextmanager
def local_stack(wrap_handlers: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Iterator[BenchStack]:
    """Start moto, the real state machines, the app's handlers and the Chalice HTTP server in this process;
    ``wrap_handlers`` may wrap the Lambda handlers (by name) first (bench/scale.py times and counts them)."""
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.pop("ANTHROPIC_API_KEY", None)
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from app import app
    from chalicelib import wiring
    from chalicelib.config import reset_settings
    from infra.local.dev import lambda_handlers
    from infra.local.stack import LocalStack

    reset_settings()
    handlers = lambda_handlers(app)
    stack = LocalStack(wrap_handlers(handlers) if wrap_handlers else handlers, data_dir=None).start()
    wiring.reset()
    server = LocalDevServer(app, Config.create(chalice_stage="local", app_name="iofold"), "127.0.0.1", 0,
                            handler_cls=_quiet_handler_class())
    thread = threading.Thread(target=server.server.serve_forever, daemon=True, name="bench-api")
    thread.start()
    host, port = server.server.server_address[:2]
    try:
        yield BenchStack(api_url=f"http://{host}:{port}/v1", endpoint_url=stack.endpoint_url, local=stack)
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(timeout=10)
        stack.stop()
