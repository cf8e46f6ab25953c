"""``make dev``: the whole product on one machine, no AWS account.

moto (DynamoDB, S3, KMS, Step Functions, Lambda) on loopback, the Chalice API on
IOFOLD_PORT, the dashboard on IOFOLD_PORT+1, a fake Langfuse with demo traces on
IOFOLD_PORT+2. State is kept in IOFOLD_DATA_DIR; the first start creates a demo workspace
and imports demo traces; ``local.json`` there says where everything is.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infra.local.source_functions import DEV_PROCESS_FUNCTIONS  # noqa: E402
from infra.local.stack import LocalStack, make_private_dir, write_private_file  # noqa: E402

logger = logging.getLogger("iofold.dev")


def lambda_handlers(app: Any) -> dict[str, Any]:
    """The app's ``@app.lambda_function`` handlers by name."""
    return {fn.name: fn for fn in app.pure_lambda_functions}


@functools.cache
def api_request_handler() -> type:
    """Chalice's request handler (unknown routes 404: infra/local/gateway.py) with Nagle's algorithm
    off. http.server writes a response in several sends; with Nagle on, the last one waits for the
    client's delayed ACK (~40 ms on Linux) once a keep-alive connection has left TCP quick-ACK mode,
    so every larger response after the first few on a connection took 40 ms longer."""
    from infra.local.gateway import ContractRequestHandler

    class ApiRequestHandler(ContractRequestHandler):
        disable_nagle_algorithm = True

    return ApiRequestHandler


def start_api_server(app: Any, port: int, host: str = "127.0.0.1"):
    """Chalice's local server in a thread; returns the server."""
    from chalice.config import Config
    from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

    if type(app) is CustomLocalChalice:
        # the app's class is re-parented below; a second server in one process (tests) must
        # start from the original class or Python sees an inheritance cycle
        app.__class__ = CustomLocalChalice.__bases__[-1]
    # as chalice.local.create_local_server does, with our request handler
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    server = LocalDevServer(app, Config.create(chalice_stage="local", app_name="iofold"), host, port,
                            handler_cls=api_request_handler())
    threading.Thread(target=server.serve_forever, daemon=True, name="api").start()
    return server


def wait_for_job(api_url: str, key: str, job_id: str, timeout_s: float = 300) -> dict:
    """Poll a job until it ends."""
    import httpx

    from chalicelib.jobs.polling import poll_job

    headers = {"Authorization": f"Bearer {key}"}
    return poll_job(lambda: httpx.get(f"{api_url}/jobs/{job_id}", headers=headers).json(), timeout_s=timeout_s,
                    interval_s=0.3)


def seed_demo(api_url: str, fake_langfuse_url: str | None) -> dict[str, str]:
    """Create the demo workspace and import the demo traces through the real paths."""
    import httpx

    from infra.local.demo_traces import make_demo_traces

    created = httpx.post(f"{api_url}/workspaces", json={"name": "Demo"}).json()
    key = created["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    if fake_langfuse_url:
        integration = httpx.post(f"{api_url}/integrations", headers=headers, json={
            "platform": "langfuse", "name": "Demo Langfuse", "base_url": fake_langfuse_url,
            "credentials": {"public_key": "pk-lf-demo", "secret_key": "sk-lf-demo"}}).json()
        job = httpx.post(f"{api_url}/traces/import", headers=headers,
                         json={"integration_id": integration["id"]}).json()
    else:
        body = "\n".join(json.dumps(t) for t in make_demo_traces())
        job = httpx.post(f"{api_url}/traces/upload?format=langfuse", headers={
            **headers, "Content-Type": "application/x-ndjson"}, content=body).json()
    result = wait_for_job(api_url, key, job["job_id"])
    print(f"demo import {result['status']}: {result.get('result')}", flush=True)
    return {"api_key": key, "workspace_id": created["workspace"]["id"]}


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    port = int(os.environ.get("IOFOLD_PORT", "8000"))
    data_dir = Path(os.environ.get("IOFOLD_DATA_DIR", ROOT / ".iofold")).resolve()
    make_private_dir(data_dir)
    os.environ.setdefault("IOFOLD_ALLOW_SIGNUP", "true")
    os.environ.setdefault("IOFOLD_STAGE", "local")
    os.environ.setdefault("IOFOLD_ALLOW_PRIVATE_SOURCES", "1")  # the demo Langfuse listens on loopback
    # the console shows the URL, the key and problems: per-invocation log lines and EMF blobs are for
    # CloudWatch (set POWERTOOLS_LOG_LEVEL=INFO or POWERTOOLS_METRICS_DISABLED=false to see them)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

    from app import app
    from chalicelib import wiring

    from infra.local.stack import scope_api

    scope_api(app)
    stack = LocalStack(lambda_handlers(app), data_dir, process_functions=DEV_PROCESS_FUNCTIONS).start()
    wiring.reset()
    api_url = f"http://127.0.0.1:{port}/v1"
    start_api_server(app, port)

    from infra.local.dashboard_server import start_dashboard_server
    from infra.local.demo_traces import make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse

    from infra.local.scheduler import LocalScheduler

    from infra.resources import PERIODIC_FUNCTIONS

    periodic = tuple(stack.provisioned.function_arns[name] for name in PERIODIC_FUNCTIONS)
    scheduler = LocalScheduler(periodic=periodic).start()
    dashboard = start_dashboard_server(port + 1, api_url)
    fake = FakeLangfuse(make_demo_traces(), port=port + 2, public_key="pk-lf-demo", secret_key="sk-lf-demo")
    fake.start()

    local_file = data_dir / "local.json"
    previous = json.loads(local_file.read_text()) if local_file.exists() else None
    if previous and _key_works(api_url, previous["api_key"]):
        demo = {"api_key": previous["api_key"], "workspace_id": previous["workspace_id"]}
    else:
        demo = seed_demo(api_url, fake.base_url)
    info = {"api_url": api_url, "dashboard_url": dashboard, "fake_langfuse_url": fake.base_url, **demo}
    write_private_file(local_file, json.dumps(info, indent=2))
    stack.snapshot()
    print(f"\niofold is running.\n  dashboard: {dashboard}\n  API:       {api_url}\n  API key:   {demo['api_key']}\n"
          f"  (also in {local_file}; Ctrl-C stops and keeps the data)\n", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    scheduler.stop()
    fake.stop()
    stack.stop()


def _key_works(api_url: str, key: str) -> bool:
    import httpx

    return httpx.get(f"{api_url}/workspace", headers={"Authorization": f"Bearer {key}"}).status_code == 200


if __name__ == "__main__":
    main()
