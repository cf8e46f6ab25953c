"""Lambda execution environments for the rehearsal: each deployed function runs in worker
processes of its own (infra/local/lambda_worker.py), started from the packaged code with
exactly the environment the function's configuration holds (as moto's Lambda returns it from
GetFunctionConfiguration), the variables Lambda itself sets, and the loopback endpoint and
credentials. Nothing of the host's environment leaks in, so a variable the template forgot is
missing here as it would be on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("lambda_worker.py")
LAMBDA_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class FunctionConfig:
    """What Lambda knows about one function (from GetFunctionConfiguration)."""

    name: str
    handler: str
    environment: Mapping[str, str]
    timeout_s: int
    memory_mb: int
    code_sha256: str
    layer_sha256s: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, config: Mapping[str, Any], layer_sha256s: tuple[str, ...] = ()) -> "FunctionConfig":
        return cls(name=config["FunctionName"], handler=config["Handler"],
                   environment=dict((config.get("Environment") or {}).get("Variables") or {}),
                   timeout_s=int(config.get("Timeout") or 3), memory_mb=int(config.get("MemorySize") or 128),
                   code_sha256=config.get("CodeSha256", ""), layer_sha256s=layer_sha256s)


def describe_function(lambda_client: Any, name: str) -> FunctionConfig:
    """A function's configuration as Lambda holds it, with its layers' CodeSha256 in order."""
    config = lambda_client.get_function_configuration(FunctionName=name)
    layers = []
    for layer in config.get("Layers") or []:  # …:layer:<name>:<version> (moto has no GetLayerVersionByArn)
        name, version = layer["Arn"].split(":")[-2:]
        layers.append(lambda_client.get_layer_version(LayerName=name, VersionNumber=int(version))
                      ["Content"]["CodeSha256"])
    return FunctionConfig.from_api(config, tuple(layers))


def layer_paths(layer_dir: Path) -> list[str]:
    """Where Lambda's Python runtime finds a layer's modules (the layer is extracted in /opt)."""
    return [str(layer_dir / "python" / "lib" / "python3.11" / "site-packages"), str(layer_dir / "python")]


def lambda_environment(cfg: FunctionConfig, code_dir: Path, region: str, loopback: Mapping[str, str]) -> dict[str, str]:
    """The function's variables, then what Lambda's runtime sets (it wins, as reserved names do on
    AWS), then the loopback endpoint and credentials (what the role's credentials are on AWS)."""
    env = dict(cfg.environment)
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": cfg.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{cfg.name}",
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "LAMBDA_TASK_ROOT": str(code_dir), "TZ": ":UTC", "LANG": "en_US.UTF-8", "PATH": LAMBDA_PATH,
    })
    env.update(loopback)
    return env


def lambda_code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class CodeStore:
    """Deployment packages by CodeSha256, each extracted once (the function's /var/task) under
    ``root``; an unchanged package is reused across runs with its compiled bytecode."""

    def __init__(self, root: Path):
        self.root = root
        self._zips: dict[str, Path] = {}
        self._lock = threading.Lock()

    def add(self, zip_path: Path) -> str:
        sha = lambda_code_sha256(zip_path.read_bytes())
        self._zips[sha] = zip_path
        return sha

    def code_dir(self, sha: str) -> Path:
        with self._lock:
            if sha not in self._zips:
                raise LookupError(f"no deployment package with CodeSha256 {sha}")
            target = self.root / hashlib.sha256(sha.encode()).hexdigest()[:16]
            if not target.exists():
                self.root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".extracting-"))
                with zipfile.ZipFile(self._zips[sha]) as zf:
                    zf.extractall(staging)
                try:
                    staging.rename(target)
                except OSError:  # another run extracted it meanwhile
                    shutil.rmtree(staging, ignore_errors=True)
            return target


class Worker:
    """One warm execution environment: a process running one function's handler."""

    def __init__(self, cfg: FunctionConfig, code_dir: Path, env: Mapping[str, str], log_path: Path,
                 extra_paths: list[str] = ()):  # type: ignore[assignment]
        self.cfg = cfg
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # its owner's alone: a handler's log may quote the traces it read
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", str(WORKER), str(code_dir), cfg.handler, str(req_r), str(resp_w),
                 str(cfg.timeout_s), os.pathsep.join(extra_paths)], env=dict(env), cwd=code_dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, pass_fds=(req_r, resp_w), start_new_session=True)
        os.close(req_r)
        os.close(resp_w)
        self._requests = os.fdopen(req_w, "wb")
        self._responses = os.fdopen(resp_r, "rb")

    def call(self, event: Any) -> tuple[bytes, bool]:
        """Invoke once; (payload, failed). A handler past the function's timeout is killed."""
        self._requests.write(json.dumps(event).encode() + b"\n")
        self._requests.flush()
        ready, _, _ = select.select([self._responses], [], [], self.cfg.timeout_s + 2)
        line = self._responses.readline() if ready else b""
        if not line:
            self.close()
            message = (f"Task timed out after {self.cfg.timeout_s}.00 seconds" if not ready
                       else f"Runtime exited (exit status {self.proc.poll()})")
            return json.dumps({"errorType": "Sandbox.Timedout" if not ready else "Runtime.ExitError",
                               "errorMessage": message}).encode(), True
        reply = json.loads(line)
        if "error" in reply:
            return json.dumps(reply["error"]).encode(), True
        return json.dumps(reply["result"]).encode(), False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for f in (self._requests, self._responses):
            try:
                f.close()
            except OSError:
                pass


class LambdaPool:
    """Routes invokes to warm workers, one function's workers never serving another; a busy
    function gets another worker (Lambda's concurrency), up to ``max_per_function``."""

    def __init__(self, describe: Callable[[str], FunctionConfig], code: CodeStore, *, region: str,
                 loopback: Mapping[str, str], log_dir: Path, max_per_function: int = 8):
        self._describe = describe
        self._code = code
        self._region = region
        self._loopback = dict(loopback)
        self.log_dir = log_dir
        self._max = max_per_function
        self._lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = {}
        self._slots: dict[str, threading.Semaphore] = {}
        self.configs: dict[str, FunctionConfig] = {}
        self.invocations: dict[str, int] = {}

    def config(self, function_name: str) -> FunctionConfig:
        with self._lock:
            if function_name not in self.configs:
                self.configs[function_name] = self._describe(function_name)
            return self.configs[function_name]

    def log_path(self, function_name: str) -> Path:
        return self.log_dir / f"{function_name}.log"

    def invoke(self, function_name: str, body: Any) -> tuple[bytes, bool]:
        """Run one invoke (moto's Lambda hands over the raw body)."""
        if isinstance(body, (bytes, bytearray)):
            body = body.decode()
        event = json.loads(body) if body else {}
        cfg = self.config(function_name)
        with self._lock:
            slots = self._slots.setdefault(function_name, threading.Semaphore(self._max))
            self.invocations[function_name] = self.invocations.get(function_name, 0) + 1
        with slots:
            worker = self._checkout(cfg)
            try:
                return worker.call(event)
            finally:
                self._checkin(worker)

    def _checkout(self, cfg: FunctionConfig) -> Worker:
        with self._lock:
            idle = self._idle.setdefault(cfg.name, [])
            while idle:
                worker = idle.pop()
                if worker.alive():
                    return worker
        return self._start_worker(cfg)

    def _start_worker(self, cfg: FunctionConfig) -> Worker:
        """A new execution environment: the function's package and layers, as Lambda extracts them."""
        code_dir = self._code.code_dir(cfg.code_sha256)
        paths = [p for sha in cfg.layer_sha256s for p in layer_paths(self._code.code_dir(sha))]
        env = lambda_environment(cfg, code_dir, self._region, self._loopback)
        return Worker(cfg, code_dir, env, self.log_path(cfg.name), paths)

    def _checkin(self, worker: Worker) -> None:
        if not worker.alive():
            return
        with self._lock:
            self._idle.setdefault(worker.cfg.name, []).append(worker)

    def close(self) -> None:
        with self._lock:
            workers = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for worker in workers:
            worker.close()
