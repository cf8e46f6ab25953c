"""In-process moto for the deploy and bootstrap tests (never the session's local stack server)."""

import itertools
import os

import boto3
import pytest
from moto import mock_aws

# moto's backends are global to the process, and the session's local stack (tests/conftest.py) lives in
# them: resetting them (mock_aws's default) wiped its tables under every later test on the same worker.
# Each test gets an account of its own instead, and removes its buckets (bucket names are global).
_ACCOUNTS = (f"{900000000000 + os.getpid() % 10000 * 1000 + n}" for n in itertools.count())


@pytest.fixture
def aws(monkeypatch):
    """A boto3 session on in-process moto, in a fresh account."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for var, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                       "MOTO_ACCOUNT_ID": next(_ACCOUNTS)}.items():
        monkeypatch.setenv(var, value)
    mock = mock_aws()
    mock.start(reset=False)
    session = boto3.session.Session(region_name="us-east-1")
    try:
        yield session
    finally:
        s3 = session.client("s3")
        for bucket in s3.list_buckets()["Buckets"]:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"]):
                for obj in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    s3.delete_object(Bucket=bucket["Name"], Key=obj["Key"], VersionId=obj["VersionId"])
            s3.delete_bucket(Bucket=bucket["Name"])
        mock.stop(remove_data=False)
