"""HTTP glue between Chalice and the domain: one decorator per route does auth, role check,
body parsing and error mapping, and records the route for the OpenAPI document.
This and app.py are the only modules that import chalice."""

from __future__ import annotations

import json
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from chalice import Chalice, Response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import models_json_schema

from chalicelib import observability, wiring
from chalicelib.auth import service as auth_service
from chalicelib.auth.models import Caller, Role
from chalicelib.config import get_settings
from chalicelib.errors import IofoldError, PayloadTooLarge, ValidationError
from chalicelib.jsonlimits import JsonTooDeep, loads_bounded
from chalicelib.storage import parse_limit
from chalicelib.traces.service import parse_trace_range

logger = observability.logger
MAX_LOGGED_TRACEBACK = 4000  # characters of a failure's traceback that reach the log (its innermost frames)
UNKNOWN_ROUTE_MESSAGE = "no such route: GET /v1/openapi.json lists every path and method"
# Errors Chalice answers itself, before any view runs, in its own {"Code", "Message"} shape.
CHALICE_ERROR_CODES = {400: "VALIDATION_ERROR", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "request_id"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array"},
        "request_id": {"type": "string"}}}},
}


@dataclass
class Request:
    """What a view receives: the caller, the parsed body, query parameters and the raw body."""

    caller: Caller | None
    body: Any
    query: dict[str, str]
    raw_body: bytes
    request_id: str
    headers: dict[str, str] = field(default_factory=dict)

    def paging(self) -> dict[str, Any]:
        """``limit`` (validated) and ``cursor`` from the query, as keyword arguments for a list call."""
        return {"limit": parse_limit(self.query.get("limit")), "cursor": self.query.get("cursor")}

    def trace_range(self) -> dict[str, str | None]:
        """``from``, ``to`` and ``source`` from the query, validated (400): every route that filters
        traces by them reads them here."""
        return parse_trace_range(self.query)

    def flag(self, name: str) -> bool:
        """A ``true``/``false`` query parameter (absent: false); 400 for anything else."""
        value = self.query.get(name)
        if value is None:
            return False
        if value not in ("true", "false"):
            raise ValidationError(f"{name} must be true or false", [{"field": name, "value": value}])
        return value == "true"


@dataclass
class RouteSpec:
    path: str
    method: str
    role: Role | None
    body: type[BaseModel] | None
    response: Any
    status: int
    summary: str
    query: dict[str, str]
    raw_response: str | None
    content_types: list[str] | None = None


class Api:
    """Registers routes on a Chalice app and describes them as OpenAPI."""

    def __init__(self, app: Chalice):
        self.app = app
        self.routes: list[RouteSpec] = []
        app.register_middleware(_chalice_errors_in_contract_shape, "http")
        observability.instrument(app)

    def route(self, path: str, method: str, *, role: Role | None, body: type[BaseModel] | None = None,
              response: Any = None, status: int = 200, summary: str = "", query: dict[str, str] | None = None,
              content_types: list[str] | None = None, raw_response: str | None = None) -> Callable:
        spec = RouteSpec(path, method, role, body, response, status, summary, query or {}, raw_response, content_types)
        self.routes.append(spec)

        def decorate(view: Callable) -> Callable:
            def handler(**uri_params: str) -> Response:
                return self._handle(spec, view, uri_params)

            handler.__name__ = f"{view.__name__}_{method.lower()}"
            self.app.route(path, methods=[method], cors=True,
                           content_types=content_types or ["application/json"])(handler)
            return view

        return decorate

    def _handle(self, spec: RouteSpec, view: Callable, uri_params: dict[str, str]) -> Response:
        req = self.app.current_request
        context = req.context or {}
        request_id = str(context.get("requestId") or uuid.uuid4())
        logger.thread_safe_append_keys(request_id=request_id)
        try:
            raw = req.raw_body or b""
            if len(raw) > get_settings().max_body_bytes:
                raise PayloadTooLarge(f"request body is {len(raw)} bytes; the limit is {get_settings().max_body_bytes}")
            headers = {k.lower(): v for k, v in (req.headers or {}).items()}
            caller = None
            if spec.role is not None:
                caller = auth_service.authenticate(headers.get("authorization"), repo=wiring.auth_repo())
                observability.bind_caller(caller.workspace_id)
                auth_service.require(caller, spec.role)
            body = parse_body(raw, spec.body) if spec.body is not None else None
            result = view(Request(caller, body, dict(req.query_params or {}), raw, request_id, headers), **uri_params)
            return to_response(result, spec.status, request_id)
        except IofoldError as exc:
            if exc.status >= 500:
                log_failure("request failed", exc)
            retry_after = getattr(exc, "retry_after", None)
            return error_response(exc.status, exc.code, exc.message, exc.details, request_id,
                                  headers={"Retry-After": str(retry_after)} if retry_after else None)
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a clean 500
            log_failure("unhandled error", exc)
            return error_response(500, "INTERNAL", "internal error; quote the request id when reporting it", [],
                                  request_id)

    def openapi(self, version: str) -> dict:
        """The OpenAPI 3.1 document for every registered route."""
        models = {m for r in self.routes for m in (r.body, r.response) if isinstance(m, type) and issubclass(m, BaseModel)}
        keyed = [(m, "validation" if any(r.body is m for r in self.routes) else "serialization") for m in models]
        refs, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
        refs_by_model = {m: refs[(m, mode)] for m, mode in keyed}
        paths: dict[str, dict] = {}
        for r in self.routes:
            op: dict[str, Any] = {"summary": r.summary or r.path, "operationId": f"{r.method.lower()}{r.path}".replace(
                "/", "_").replace("{", "").replace("}", "").replace("-", "_").replace(".", "_")}
            params = [{"name": p[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in r.path.split("/") if p.startswith("{")]
            params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}} for n, t in r.query.items()]
            if params:
                op["parameters"] = params
            if r.body is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs_by_model[r.body]}}}
            elif r.path.endswith("upload"):
                op["requestBody"] = {"required": True, "description": (
                    "JSON Lines, one trace per line; gzip accepted (Content-Encoding: gzip or detected by its magic "
                    "bytes). Past 6 MB use POST /v1/traces/uploads."), "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}
            elif r.content_types:  # a raw body (OTLP export requests)
                op["requestBody"] = {"required": True, "content": {
                    t: {"schema": {"type": "string", "format": "binary"} if t.endswith("protobuf") else {"type": "object"}}
                    for t in r.content_types}}
            ok: dict[str, Any] = {"description": "OK"}
            if r.raw_response:
                ok["content"] = {r.raw_response: {"schema": {"type": "string"}}}
            elif r.status != 204:
                schema = refs_by_model.get(r.response, {"type": "object"}) if r.response is not None else {"type": "object"}
                ok["content"] = {"application/json": {"schema": schema}}
            responses = {str(r.status): ok}
            error_codes = ["400", "413"] if r.body is not None or r.method in ("POST", "PUT") else ["400"]
            if r.body is not None:
                error_codes.append("415")
            if r.role is not None:
                # ids arrive in paths, bodies and queries (?eval_set_id=): any of them may be unknown
                error_codes += ["401", "403", "404", "409", "422"]
            for code in error_codes + ["500"]:
                responses[code] = {"description": "error", "content": {"application/json": {"schema": ERROR_SCHEMA}}}
            op["responses"] = responses
            if r.role is not None:
                op["security"] = [{"bearer": []}]
            paths.setdefault(r.path, {})[r.method.lower()] = op
        return {"openapi": "3.1.0", "info": {"title": "iofold", "version": version}, "paths": paths,
                "components": {"schemas": defs.get("$defs", {}),
                               "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}


def parse_body(raw: bytes, model: type[BaseModel]) -> BaseModel:
    """JSON body → model; 400 with the fields at fault."""
    if not raw.strip():
        raise ValidationError("request body is empty: send a JSON object")
    try:
        doc = loads_bounded(raw)
    except JsonTooDeep as exc:
        raise ValidationError(f"request body is {exc}", [{"field": "body", "reason": "too_deep"}]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValidationError("request body must be a JSON object")
    try:
        return model.model_validate(doc)
    except PydanticValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise ValidationError("request body is invalid: " + "; ".join(f"{d['field']}: {d['message']}"
                                                                      for d in details[:5]), details) from exc


def log_failure(message: str, exc: BaseException) -> None:
    """Log an unexpected failure in bounded size: the exception's type and message and the innermost
    frames of its traceback (a RecursionError's full traceback is over 100 KB)."""
    text = "".join(traceback.format_exception(exc, limit=-12))
    if len(text) > MAX_LOGGED_TRACEBACK:
        text = "…" + text[-MAX_LOGGED_TRACEBACK:]
    logger.error(message, extra={"error_type": type(exc).__name__, "error": str(exc)[:500], "traceback": text})


def to_response(result: Any, status: int, request_id: str) -> Response:
    headers = {"X-Request-Id": request_id}
    if isinstance(result, Response):
        result.headers = {**(result.headers or {}), **headers}
        return result
    if status == 204 or result is None:
        return Response(body="", status_code=204, headers=headers)
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json", by_alias=True)
    return Response(body=json.dumps(result), status_code=status, headers={**headers, "Content-Type": "application/json"})


def error_body(code: str, message: str, details: list, request_id: str) -> dict:
    """The contract's error shape (API.md), also used by the gateway responses in infra/template.py."""
    return {"error": {"code": code, "message": message, "details": details, "request_id": request_id}}


def error_response(status: int, code: str, message: str, details: list, request_id: str,
                   headers: dict[str, str] | None = None) -> Response:
    return Response(body=json.dumps(error_body(code, message, details, request_id), default=str), status_code=status,
                    headers={**(headers or {}), "Content-Type": "application/json", "X-Request-Id": request_id})


def unknown_route_response(request_id: str) -> Response:
    """404 for a path no route has, as the deployed API Gateway answers it (never quoting the request)."""
    return error_response(404, "NOT_FOUND", UNKNOWN_ROUTE_MESSAGE, [], request_id,
                          headers={"Access-Control-Allow-Origin": "*"})


def _chalice_errors_in_contract_shape(event: Any, get_response: Callable) -> Response:
    """Chalice middleware: the 405 (method not on this path), 415 (Content-Type the route does not
    take) and 400 that Chalice answers before a view runs come back in the contract's error shape."""
    response = get_response(event)
    body = response.body
    if response.status_code in CHALICE_ERROR_CODES and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        request_id = str((event.context or {}).get("requestId") or uuid.uuid4())
        headers = {k: v for k, v in (response.headers or {}).items() if k.lower() != "content-type"}
        message = str(body["Message"])
        if response.status_code == 405:
            message = f"{message}; this path takes {headers.get('Allow', 'other methods')}"
        return error_response(response.status_code, CHALICE_ERROR_CODES[response.status_code], message, [],
                              request_id, headers=headers)
    return response
