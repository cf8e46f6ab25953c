"""Property-based run of schemathesis against /v1/openapi.json over real HTTP: no 5xx and no
response outside the spec, with a bounded number of examples per operation."""

import httpx
import pytest
import schemathesis
from schemathesis import checks
from hypothesis import HealthCheck, given, settings

from schemathesis.transport.requests import REQUESTS_TRANSPORT, text_serializer

from app import api as registry
from tests.conftest import serve_api

REQUESTS_TRANSPORT.serializer("application/x-ndjson")(text_serializer)

pytestmark = pytest.mark.slow
EXAMPLES_PER_OPERATION = 15
# No 5xx, nothing outside the spec. Not "positive_data_acceptance": a schema-valid request may
# still be impossible (422, e.g. generating with no negative examples) or conflict (409).
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]


@pytest.fixture(scope="module")
def served(stack):
    yield from serve_api("fuzz")


@pytest.fixture(scope="module")
def api_schema(served):
    base, _ = served
    schema = schemathesis.openapi.from_dict(httpx.get(f"{base}/v1/openapi.json").json())
    schema.config.update(base_url=base)
    return schema


@pytest.mark.parametrize("method, path", [(r.method, r.path) for r in registry.routes], ids=lambda v: v)
def test_operation_conforms_to_the_spec(api_schema, served, method, path):
    base, key = served
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

    run()
