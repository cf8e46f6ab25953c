"""Chalice's local stand-in for API Gateway, answering unknown routes as the deployed API does.

On AWS, API Gateway answers a path no route has with its MISSING_AUTHENTICATION_TOKEN gateway
response, which infra/template.py sets to 404 in the contract's error shape. ``chalice.local``'s
LocalGateway (behind both ``chalice local``/``create_local_server`` and ``chalice.test.Client``)
instead raises a 403 "Missing Authentication Token" whose body quotes the caller's Authorization
header, i.e. the API key. ContractGateway checks the route first and answers 404 itself; every
other request goes to Chalice unchanged. ``tests/api/test_routing.py`` has the canary for the
stock behaviour this replaces (chalice is pinned in requirements.txt).
"""

from __future__ import annotations

import uuid
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalGateway, RouteMatcher
from chalice.test import Client, TestHTTPClient

from chalicelib.web import unknown_route_response


class ContractGateway(LocalGateway):
    """LocalGateway whose unknown routes are 404 in the contract's error shape."""

    def __init__(self, app_object: Any, config: Any):
        super().__init__(app_object, config)
        self._routes = RouteMatcher(list(app_object.routes))

    def handle_request(self, method: str, path: str, headers: dict, body: bytes | None) -> dict:
        try:
            self._routes.match_route(path)
        except ValueError:
            return unknown_route_response(str(uuid.uuid4())).to_dict(self._app_object.api.binary_types)
        return super().handle_request(method, path, headers, body)


class ContractRequestHandler(ChaliceRequestHandler):
    """The local server's request handler (``LocalDevServer(handler_cls=…)``) over ContractGateway."""

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any):
        self.local_gateway = ContractGateway(app_object, config)
        # ChaliceRequestHandler.__init__ only builds its LocalGateway, then handles the request here
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)


def contract_http_client(client: Client) -> TestHTTPClient:
    """``client.http`` (chalice.test) over ContractGateway."""
    http = client.http
    http._local_gateway = ContractGateway(client._app, client._chalice_config)  # noqa: SLF001 - see the canary
    return http
