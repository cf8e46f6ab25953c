"""The only place that builds boto3, httpx and Anthropic clients. Built lazily, cached per process."""

from __future__ import annotations

import functools
from typing import Any

import boto3
import httpx
from botocore.config import Config

from chalicelib.config import get_settings, reset_settings
from chalicelib.sources.addresses import GuardedTransport

_BOTO_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, max_pool_connections=32)


@functools.lru_cache(maxsize=None)
def _session() -> boto3.session.Session:
    return boto3.session.Session(region_name=get_settings().region)


@functools.lru_cache(maxsize=None)
def aws_client(service: str) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (the local stack) is honoured by boto3 itself."""
    return _session().client(service, config=_BOTO_CONFIG)


@functools.lru_cache(maxsize=None)
def dynamodb_table(name: str) -> Any:
    """The boto3 Table resource for one logical table (``traces``, ``jobs`` …)."""
    resource = _session().resource("dynamodb", config=_BOTO_CONFIG)
    return resource.Table(get_settings().table_name(name))


@functools.lru_cache(maxsize=None)
def s3_presigner() -> Any:
    """An S3 client for presigned URLs: SigV4 (AWS refuses V2 in newer regions), against the endpoint
    clients reach (AWS_ENDPOINT_URL locally)."""
    return _session().client("s3", config=_BOTO_CONFIG.merge(Config(signature_version="s3v4")))


def source_http_client() -> httpx.Client:
    """An httpx client for calling trace sources (Langfuse …) that connects only to allowed
    addresses (chalicelib/sources/addresses.py) and follows no redirect; the caller closes it."""
    settings = get_settings()
    timeout = settings.source_timeout_s
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=False,
                        transport=GuardedTransport(allow_private=settings.allow_private_sources), trust_env=False)


def anthropic_client() -> Any:
    """The real Anthropic SDK client, with the key from settings."""
    import anthropic

    # retries live in AnthropicGenerator (one tested place), not in the SDK as well
    return anthropic.Anthropic(api_key=get_settings().anthropic_api_key, max_retries=0)


def reset_clients() -> None:
    """Forget cached settings and clients."""
    reset_settings()
    _session.cache_clear()
    aws_client.cache_clear()
    s3_presigner.cache_clear()
    dynamodb_table.cache_clear()
