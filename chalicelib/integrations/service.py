"""Connecting, testing and removing trace sources."""

from __future__ import annotations

from typing import Any, Callable

import httpx

from chalicelib.auth.models import Caller
from chalicelib.errors import SourceError, Unprocessable
from chalicelib.ids import new_id
from chalicelib.integrations import crypto
from chalicelib.integrations.models import (
    SUPPORTED_PLATFORMS, CreateIntegrationRequest, Integration, TestResult,
)
from chalicelib.integrations.repository import IntegrationRepository
from chalicelib.sources.addresses import AddressRefused
from chalicelib.sources.langfuse.client import LangfuseClient
from chalicelib.sources.langsmith.client import LangSmithClient
from chalicelib.sources.openai.client import OpenAIClient
from chalicelib.sources.models import SourceAuthError, SourceSettingsError, TransientSourceError
from chalicelib.paging import Page
from chalicelib.timeutil import now_iso


class Keyring:
    """What the service needs to seal and open credentials: a KMS client and key id."""

    def __init__(self, kms: Any, key_id: str):
        self.kms = kms
        self.key_id = key_id


def create_integration(caller: Caller, req: CreateIntegrationRequest, *, repo: IntegrationRepository,
                       keyring: Keyring, check_url: Callable[[str], None]) -> Integration:
    """Store a new integration with its credentials sealed by KMS; ``check_url`` raises
    AddressRefused for a base URL sources may not use (see chalicelib/sources/addresses.py)."""
    if req.platform not in SUPPORTED_PLATFORMS:
        raise Unprocessable(f"{req.platform} import is not available yet; supported: {', '.join(SUPPORTED_PLATFORMS)}")
    base_url = str(req.base_url).rstrip("/")
    try:
        check_url(base_url)
    except AddressRefused as exc:
        raise Unprocessable(f"base_url refused: {exc.message}", [{"field": "base_url", "reason": exc.message}]) from exc
    integration = Integration(id=new_id("int"), platform=req.platform, name=req.name,
                              base_url=base_url, mode=req.mode, project=req.project, group_by=req.group_by,
                              created_at=now_iso())
    envelope = crypto.encrypt_credentials(req.credentials, workspace_id=caller.workspace_id,
                                          integration_id=integration.id, kms=keyring.kms, key_id=keyring.key_id)
    repo.add(caller.workspace_id, integration, envelope)
    return integration


def list_integrations(caller: Caller, *, limit: int, cursor: str | None,
                      repo: IntegrationRepository) -> Page[Integration]:
    items, nxt = repo.list(caller.workspace_id, limit=limit, cursor=cursor)
    return Page[Integration](items=items, next_cursor=nxt)


def open_source(workspace_id: str, integration_id: str, *, repo: IntegrationRepository, keyring: Keyring,
                http: httpx.Client, max_attempts: int,
                sleep: Callable[[float], None] | None = None) -> LangfuseClient | LangSmithClient | OpenAIClient:
    """A client for the integration's source, with its credentials decrypted (tasks only)."""
    integration = repo.get(workspace_id, integration_id)
    creds = crypto.decrypt_credentials(repo.get_envelope(workspace_id, integration_id), workspace_id=workspace_id,
                                       integration_id=integration_id, kms=keyring.kms)
    kwargs: dict[str, Any] = {"http": http, "max_attempts": max_attempts}
    if sleep is not None:
        kwargs["sleep"] = sleep
    if integration.platform == "langsmith":
        return LangSmithClient(integration.base_url, creds["api_key"], project=integration.project, **kwargs)
    if integration.platform == "openai":
        return OpenAIClient(integration.base_url, creds["api_key"], group_by=integration.group_by, **kwargs)
    return LangfuseClient(integration.base_url, creds["public_key"], creds["secret_key"], mode=integration.mode, **kwargs)


def test_integration(caller: Caller, integration_id: str, *, repo: IntegrationRepository, keyring: Keyring,
                     http: httpx.Client) -> TestResult:
    """Reach the source with the stored credentials and record the outcome as the status.

    The detail is a fixed message plus the last HTTP status, never the source's body or headers:
    the URL may point at something whose answers are secret (this adds a response hook to ``http``)."""
    statuses: list[int] = []
    http.event_hooks["response"].append(lambda response: statuses.append(response.status_code))
    client = open_source(caller.workspace_id, integration_id, repo=repo, keyring=keyring, http=http, max_attempts=2)
    ok = False
    try:
        client.check()
        ok, detail = True, f"reached {client.label}"
    except SourceAuthError:
        detail = f"{client.label} refused the credentials"
    except (AddressRefused, SourceSettingsError) as exc:
        detail = exc.message
    except (SourceError, TransientSourceError):
        detail = f"{client.label} did not answer as expected" if statuses else f"could not connect to {client.label}"
    if statuses:
        detail += f" (HTTP {statuses[-1]})"
    repo.update_status(caller.workspace_id, integration_id, status="ok" if ok else "error",
                       status_detail=detail[:1000], last_checked_at=now_iso())
    return TestResult(ok=ok, detail=detail)
