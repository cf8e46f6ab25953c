"""One Lambda execution environment for the rehearsal: run as a script (``python -S``), with the
function's environment only, its code directory first on the path (as /var/task is), its
handler imported once and called per request. Requests and responses are JSON lines on two
inherited pipes, so the handler's own stdout and stderr stay its log.

    python -S lambda_worker.py <code_dir> <module.handler> <request_fd> <response_fd> <timeout_s> <layer paths>

Imports nothing from the repository: only the packaged code runs here.
"""

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class LambdaContext:
    """The attributes Lambda's Python runtime gives a handler's ``context``."""

    def __init__(self, deadline: float):
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{name}"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "rehearsal"
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def trace_header() -> str:
    """An X-Ray trace header for one invocation, not sampled: a tracer (Powertools, with
    LAMBDA_TASK_ROOT set) finds the segment Lambda would give it and sends nothing."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def main() -> None:
    code_dir, handler_spec, request_fd, response_fd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    timeout_s = float(sys.argv[5])
    layers = [p for p in sys.argv[6].split(os.pathsep) if p] if len(sys.argv) > 6 else []
    here = os.path.dirname(os.path.abspath(__file__))
    # as Lambda's Python runtime: the function's code, then its layers (/opt/python…), then the runtime
    sys.path[:] = [code_dir, *layers] + [p for p in sys.path if p and os.path.abspath(p) != here]
    os.chdir(code_dir)
    module_name, _, attr = handler_spec.rpartition(".")
    requests = os.fdopen(request_fd, "rb")
    responses = os.fdopen(response_fd, "wb")
    try:
        handler = getattr(importlib.import_module(module_name), attr)
        init_error = None
    except Exception as exc:  # noqa: BLE001 - an init error is what Lambda reports for every invoke
        handler, init_error = None, exc
        traceback.print_exc()
    for line in requests:
        event = json.loads(line)
        if init_error is not None:
            reply = {"error": {"errorType": "Runtime.ImportModuleError",
                               "errorMessage": f"Unable to import module '{module_name}': {init_error}"}}
        else:
            os.environ["_X_AMZN_TRACE_ID"] = trace_header()  # per invocation, as Lambda's runtime sets it
            try:
                result = handler(event, LambdaContext(time.monotonic() + timeout_s))
                reply = {"result": result}
            except Exception as exc:  # noqa: BLE001 - becomes the invoke's FunctionError, as on AWS
                traceback.print_exc()
                reply = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)[:4000],
                                   "stackTrace": traceback.format_tb(exc.__traceback__)[-5:]}}
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            data = json.dumps(reply, default=str)
        except (TypeError, ValueError) as exc:
            data = json.dumps({"error": {"errorType": "Runtime.MarshalError", "errorMessage": str(exc)}})
        responses.write(data.encode() + b"\n")
        responses.flush()


if __name__ == "__main__":
    main()
