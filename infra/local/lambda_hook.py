"""Route moto's Lambda invokes to the app's own ``@app.lambda_function`` handlers.

moto's Docker-free Lambda backend only echoes payloads. Step Functions (moto's ASL
interpreter) invokes Lambda through the moto server, so replacing that one method makes
the real state-machine files run the real task code. This patches a moto internal:
moto is pinned, and tests/statemachines/test_lambda_hook.py is the canary.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any, Callable, Iterator

from moto.awslambda_simple.models import LambdaSimpleBackend

Handler = Callable[[Any, Any], Any]
Dispatch = Callable[[str, Any], "tuple[bytes, bool]"]  # (function name, body) → (payload, failed)
logger = logging.getLogger(__name__)

_handlers: dict[str, Handler] = {}
_routes: list[tuple[Callable[[str], bool], Dispatch]] = []  # (which functions, where they go)
_original_invoke = LambdaSimpleBackend.invoke


def install(handlers: dict[str, Handler]) -> None:
    """Make invokes of the deployed function ``<name>`` run ``handlers[<name>]`` (matched by suffix)."""
    _handlers.clear()
    _handlers.update(handlers)
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def install_dispatcher(dispatch: Dispatch) -> None:
    """Route every invoke to ``dispatch(function_name, body)`` instead (the rehearsal runs each
    function in a process of its own, with its own environment); it returns the response payload
    and whether it is a function error."""
    _handlers.clear()
    _routes[:] = [(lambda _name: True, dispatch)]
    LambdaSimpleBackend.invoke = _invoke  # type: ignore[method-assign]


def route(owns: Callable[[str], bool], dispatch: Dispatch) -> None:
    """Send invokes of the functions ``owns(function name)`` accepts to ``dispatch`` (worker processes,
    infra/local/source_functions.py); the others keep their handlers."""
    _routes.append((owns, dispatch))


def unroute(dispatch: Dispatch) -> None:
    """Undo :func:`route`: those functions run their handlers again."""
    _routes[:] = [(owns, d) for owns, d in _routes if d != dispatch]


@contextlib.contextmanager
def wrapped(name: str, wrap: Callable[[Handler], Handler]) -> Iterator[None]:
    """Within the block, invokes of ``<name>`` run ``wrap(handler)`` instead of the handler: how tests
    inject faults at the Lambda boundary (a function that fails as a deployed one might)."""
    original = _handlers[name]
    _handlers[name] = wrap(original)
    try:
        yield
    finally:
        _handlers[name] = original


def uninstall() -> None:
    """Restore moto's own invoke."""
    _handlers.clear()
    _routes.clear()
    LambdaSimpleBackend.invoke = _original_invoke  # type: ignore[method-assign]


def names_function(name: str, function_name: str) -> bool:
    """Whether the deployed ``function_name`` is the app's function ``name`` (``<prefix>-<name>``)."""
    return function_name == name or function_name.endswith("-" + name)


def _find(function_name: str) -> Handler | None:
    return next((handler for name, handler in _handlers.items() if names_function(name, function_name)), None)


def _invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001 - moto's signature
    fn = self.get_function(function_name, qualifier)
    dispatch = next((d for owns, d in _routes if owns(fn.function_name)), None)
    if dispatch is not None:
        payload, failed = dispatch(fn.function_name, body)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload
    handler = _find(fn.function_name)
    if handler is None:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    event = json.loads(body) if body else {}
    try:
        result = handler(event, None)
    except Exception as exc:  # noqa: BLE001 - becomes the Lambda error the state machine sees, as on AWS
        logger.info("task %s raised %s: %s", fn.function_name, type(exc).__name__, exc)
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:4000]}).encode()
    return json.dumps(result).encode()
