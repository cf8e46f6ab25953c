"""The span store's answer to S3 throttling, and the route's Retry-After on it."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.errors import Unavailable
from chalicelib.otlp.spans import SpanStore, StoredSpan
from chalicelib.web import Api


def _span() -> StoredSpan:
    return StoredSpan(trace_id="a" * 32, span_id="b" * 16,
                      entry={"resource": {}, "scope": {}, "span": {"spanId": "b" * 16, "endTimeUnixNano": "1"}})


def test_throttled_storage_becomes_unavailable_with_retry_after():
    bucket = boto3.resource("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
                            endpoint_url="http://127.0.0.1:9").Bucket("data")
    with Stubber(bucket.meta.client) as stub:
        stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(Unavailable) as caught:
            SpanStore(bucket).put_spans("ws_1", [_span()])
    assert caught.value.status == 503 and caught.value.retry_after > 0


def test_pending_lists_and_reads_at_most_its_limit_of_markers(stack, aws_events):
    from chalicelib import clients

    calls: list[tuple[str, dict]] = []
    aws_events("before-parameter-build.s3", lambda model, params, **_: calls.append((model.name, dict(params))))
    clients.aws_client("s3").create_bucket(Bucket="otlp-pending-bounded")
    store = SpanStore(clients.s3_bucket("otlp-pending-bounded"))
    store.put_spans("ws_1", [StoredSpan(trace_id=f"{i:032x}", span_id="b" * 16, entry=_span().entry)
                             for i in range(1, 26)])
    calls.clear()

    first = list(store.pending(limit=10))

    assert [p.trace_id for p in first] == [f"{i:032x}" for i in range(1, 11)]
    lists = [params for name, params in calls if name in ("ListObjects", "ListObjectsV2")]
    assert len(lists) == 1 and lists[0]["MaxKeys"] == 10
    assert sum(name == "GetObject" for name, _ in calls) == 10
    assert len(list(store.pending(limit=1000))) == 25


def test_an_error_with_retry_after_is_answered_with_the_header():
    from chalice import Chalice
    from chalice.test import Client

    app = Chalice(app_name="t")
    api = Api(app)

    @api.route("/busy", "GET", role=None)
    def busy(req):
        raise Unavailable("busy", retry_after=7)

    with Client(app) as client:
        response = client.http.get("/busy")
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert json.loads(response.body)["error"]["code"] == "UNAVAILABLE"
