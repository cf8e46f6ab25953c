"""Chosen functions of the local stack in worker processes of their own, run from the source tree.

The local stack runs every Lambda handler in its own process by default, beside moto: tests wrap
handlers there to inject faults (``lambda_hook.wrapped``), and the bench counts each function's AWS
calls there. That process is also moto's, and Python runs one thread at a time in it: an execute run
over 20,000 traces kept it at one core while the machine's other core waited (ad hoc /proc readings;
execute_chunk's client side was about half of its GIL-holding samples in a py-spy profile);
bench/scale.py measures the two ways against each other (bench/results/scale.md).

``make dev`` runs the functions named here (execute_chunk) as the rehearsal runs all of them: each
invoke goes to a warm worker process (lambda_runtime.Worker), one per concurrent invoke, with the
function's environment as the template would give it (its own resource variables, nothing of the
others'), a Lambda context with the function's timeout, and its errors returned by name as Lambda
returns them. The code is the working tree's, not a package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from infra import resources
from infra.local.lambda_hook import names_function
from infra.local.lambda_runtime import FunctionConfig, LambdaPool, Worker, lambda_environment

ROOT = Path(__file__).resolve().parents[2]
HANDLER_MODULE = "app"  # app.py: the @app.lambda_function handlers, by their function's name
DEV_PROCESS_FUNCTIONS = ("execute_chunk",)  # what `make dev` runs in worker processes


def source_environment(name: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """What function ``name`` sees in the local stack's process (config.only_variables): every setting,
    and of the resource variables only those it declares."""
    from chalicelib.config import is_resource_var

    environ = dict(os.environ if environ is None else environ)
    declared = set(resources.function(name).env_vars())
    return {k: v for k, v in environ.items() if not is_resource_var(k) or k in declared}


class SourcePool(LambdaPool):
    """Workers for the functions in ``names`` (matched by suffix, ``<prefix>-<name>``), from ROOT."""

    def __init__(self, names: tuple[str, ...], *, log_dir: Path, region: str, max_per_function: int = 8):
        super().__init__(self._config, code=None, region=region, loopback={}, log_dir=log_dir,  # type: ignore[arg-type]
                         max_per_function=max_per_function)
        self.names = names
        self.enabled = True  # False: invokes run in the stack's process again, the workers kept warm

    def owns(self, function_name: str) -> bool:
        return self.enabled and self._logical(function_name) is not None

    def _logical(self, function_name: str) -> str | None:
        return next((n for n in self.names if names_function(n, function_name)), None)

    def _config(self, function_name: str) -> FunctionConfig:
        name = self._logical(function_name)
        if name is None:
            raise LookupError(f"{function_name} does not run in a worker process here")
        spec = resources.function(name)
        return FunctionConfig(name=function_name, handler=f"{HANDLER_MODULE}.{name}",
                              environment=source_environment(name), timeout_s=spec.timeout_s,
                              memory_mb=spec.memory_mb, code_sha256="")

    def _start_worker(self, cfg: FunctionConfig) -> Worker:
        # the interpreter's own path (the virtualenv's packages) after the working tree, as a layer would be
        paths = [p for p in sys.path if p and Path(p).resolve() != ROOT]
        env = lambda_environment(cfg, ROOT, self._region, self._loopback)
        return Worker(cfg, ROOT, env, self.log_path(cfg.name), paths)
