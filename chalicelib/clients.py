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


_EVENT_HANDLERS: list[tuple[str, Any]] = []  # (botocore event, handler) put on every session built here


@functools.lru_cache(maxsize=None)
def _session() -> boto3.session.Session:
    session = boto3.session.Session(region_name=get_settings().region)
    for event, handler in _EVENT_HANDLERS:
        session.events.register(event, handler)
    return session


def register_aws_event_handler(event: str, handler: Any) -> None:
    """Put a botocore event handler (``before-call``, ``after-call`` ...) on every client built from now
    on (bench/scale.py counts AWS calls with it). Clients copy their session's handlers when built, so
    the cached clients are forgotten here."""
    _EVENT_HANDLERS.append((event, handler))
    reset_clients()


def unregister_aws_event_handlers() -> None:
    """Remove every handler added by :func:`register_aws_event_handler` (and forget the clients holding them)."""
    _EVENT_HANDLERS.clear()
    reset_clients()


@functools.lru_cache(maxsize=None)
def aws_client(service: str) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (the local stack) is honoured by boto3 itself."""
    return _session().client(service, config=_BOTO_CONFIG)


@functools.lru_cache(maxsize=None)
def sandbox_lambda_client() -> Any:
    """The Lambda client that invokes the sandbox function: its read timeout outlasts the function's
    own timeout (with TCP keepalive, as AWS advises for long synchronous invokes), it connects within
    seconds, and it never retries (a retry would run eval code again; Step Functions retries the task
    instead). The numbers live in chalicelib/sandbox/limits.py."""
    from chalicelib.sandbox import limits

    return _session().client("lambda", config=_BOTO_CONFIG.merge(Config(
        connect_timeout=limits.CONNECT_TIMEOUT_S, read_timeout=limits.READ_TIMEOUT_S, tcp_keepalive=True,
        retries={"total_max_attempts": limits.CLIENT_MAX_ATTEMPTS, "mode": "standard"})))


def dynamodb_table(name: str) -> Any:
    """The boto3 Table resource for one logical table (``traces``, ``jobs`` …), named by its variable."""
    return _table(get_settings().table(name))


@functools.lru_cache(maxsize=None)
def _table(physical_name: str) -> Any:
    return _session().resource("dynamodb", config=_BOTO_CONFIG).Table(physical_name)


@functools.lru_cache(maxsize=None)
def s3_bucket(physical_name: str) -> Any:
    """The boto3 Bucket resource for a bucket name (from settings)."""
    return _session().resource("s3", config=_BOTO_CONFIG).Bucket(physical_name)


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


def llm_http_client() -> Any:
    """An httpx2 client (what the LLM SDKs take) that reaches a workspace's LLM endpoint only at
    addresses the sources' SSRF guard allows, with no redirect and no proxy; the caller closes it."""
    import httpx2

    from chalicelib.generation.transport import Httpx2Bridge

    settings = get_settings()
    return httpx2.Client(transport=Httpx2Bridge(GuardedTransport(allow_private=settings.allow_private_sources)),
                         timeout=httpx2.Timeout(600.0, connect=10.0), follow_redirects=False, trust_env=False)


def openai_client(base_url: str, api_key: str | None) -> Any:
    """The real OpenAI SDK client for an OpenAI-compatible endpoint, over the guarded transport."""
    import openai

    # retries live in the generator (one tested place), not in the SDK as well
    return openai.OpenAI(api_key=api_key or "none", base_url=base_url, http_client=llm_http_client(), max_retries=0)


def llm_api_key() -> tuple[str | None, str]:
    """The LLM API key and where it came from, or ``(None, why there is none)``.

    ANTHROPIC_API_KEY (local) wins; deployed, the key is the value of the Secrets Manager secret
    named by IOFOLD_LLM_SECRET_ARN (the template creates it empty; the user fills it)."""
    settings = get_settings()
    if settings.anthropic_api_key:
        return settings.anthropic_api_key, "ANTHROPIC_API_KEY"
    arn = settings.llm_secret_arn
    if not arn:
        return None, "no LLM key configured (IOFOLD_LLM_SECRET_ARN and ANTHROPIC_API_KEY are not set)"
    from botocore.exceptions import ClientError

    try:
        value = (aws_client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString") or "").strip()
    except ClientError as exc:  # created without a value: it has no AWSCURRENT version yet
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        value = ""
    if not value:
        return None, "no LLM key configured (secret empty)"
    return value, "the LLM secret"


def anthropic_client(api_key: str) -> Any:
    """The real Anthropic SDK client with the given key."""
    import anthropic

    # retries live in AnthropicGenerator (one tested place), not in the SDK as well
    return anthropic.Anthropic(api_key=api_key, max_retries=0)


def reset_clients() -> None:
    """Forget cached settings and clients."""
    reset_settings()
    _session.cache_clear()
    aws_client.cache_clear()
    sandbox_lambda_client.cache_clear()
    _table.cache_clear()
    s3_bucket.cache_clear()
    s3_presigner.cache_clear()
