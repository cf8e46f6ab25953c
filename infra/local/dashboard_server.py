"""Serves dashboard/ as static files (as S3 would), plus ``config.json`` naming the API."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboard"


class _Handler(SimpleHTTPRequestHandler):
    api_url = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.split("?")[0] == "/config.json":
            body = json.dumps({"api_url": self.api_url}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        pass


def start_dashboard_server(port: int, api_url: str, host: str = "127.0.0.1") -> str:
    """Serve the dashboard in a thread; returns its URL."""
    handler = type("DashboardHandler", (_Handler,), {"api_url": api_url})
    server = ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(DASHBOARD_DIR)))
    threading.Thread(target=server.serve_forever, daemon=True, name="dashboard").start()
    return f"http://{host}:{server.server_address[1]}/"
