"""The LLM SDKs (anthropic, openai) speak httpx2; the SSRF guard (chalicelib/sources/addresses.py)
is an httpx transport. ``Httpx2Bridge`` lets an httpx2 client send through any httpx transport,
so a workspace's LLM endpoint is reached only at checked addresses, exactly as sources are."""

from __future__ import annotations

import httpx
import httpx2


class Httpx2Bridge(httpx2.BaseTransport):
    """An httpx2 transport that sends each request through an httpx transport (bodies buffered)."""

    def __init__(self, inner: httpx.BaseTransport):
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        outbound = httpx.Request(request.method, str(request.url), headers=list(request.headers.multi_items()),
                                 content=request.read(), extensions={"timeout": request.extensions.get("timeout", {})})
        try:
            response = self._inner.handle_request(outbound)
            try:
                body = response.read()  # decoded: content-encoding is dropped below
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise httpx2.TimeoutException(str(exc), request=request) from exc
        except httpx.TransportError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx2.Response(response.status_code, headers=headers, content=body, request=request)

    def close(self) -> None:
        self._inner.close()
