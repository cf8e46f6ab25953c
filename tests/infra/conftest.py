"""In-process moto for the deploy and bootstrap tests (never the session's local stack server)."""

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch):
    """A boto3 session on in-process moto."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for var, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")
