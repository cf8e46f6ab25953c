"""What the fake trace sources (fake Langfuse, fake LangSmith) share: a real HTTP server on
loopback in a daemon thread, request and status counters, and injected faults (a 429 with
Retry-After every k-th request, a 500 every m-th, a delay on every response)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeSource:
    """Base of a fake source: subclasses set ``handler`` and the endpoint logic."""

    handler: type[FakeSourceHandler]
    label = "fake source"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, rate_limit_every: int = 0,
                 retry_after_s: float = 1, error_every: int = 0, delay_s: float = 0.0,
                 broken_trace_ids: Iterable[str] = ()):
        self.rate_limit_every = rate_limit_every
        self.retry_after_s = retry_after_s
        self.error_every = error_every
        self.delay_s = delay_s
        self.broken_trace_ids = set(broken_trace_ids)
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.paths: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._server is None:
            raise RuntimeError(f"the {self.label} server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            return self
        bound = type("_BoundHandler", (self.handler,), {"fake": self})
        self._server = ThreadingHTTPServer(self._address, bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.label, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def count_request(self, path: str) -> int:
        """Number this request (1-based) for fault injection."""
        with self._lock:
            self.requests += 1
            self.paths[path] += 1
            return self.requests

    def count_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1


class FakeSourceHandler(BaseHTTPRequestHandler):
    """JSON responses, quiet logs, and the injected faults."""

    fake: FakeSource
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and body leave in one write, flushed after each request
    error_key = "message"  # the key of the source's error bodies

    def begin(self, path: str) -> int:
        """Count the request and apply the delay; the request's number."""
        number = self.fake.count_request(path)
        if self.fake.delay_s:
            time.sleep(self.fake.delay_s)
        return number

    def send_fault(self, number: int) -> bool:
        """Answer with the injected 429 or 500 if this request is due one; True when it was."""
        fake = self.fake
        if fake.rate_limit_every and number % fake.rate_limit_every == 0:
            retry_after = fake.retry_after_s
            header = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            self.send_json(429, {self.error_key: "rate limit exceeded"}, {"Retry-After": header})
            return True
        if fake.error_every and number % fake.error_every == 0:
            self.send_json(500, {self.error_key: "Internal Server Error"})
            return True
        return False

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.fake.count_status(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """Keep test output quiet."""
