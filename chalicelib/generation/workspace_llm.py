"""A workspace's choice of LLM for generation: Anthropic or any OpenAI-compatible endpoint (a base
URL and a model), with its API key sealed by KMS like integration credentials
(chalicelib/integrations/crypto.py) and never returned.

The base URL is checked by the sources' SSRF guard when saved, and every connection to it goes
through the guarded transport (chalicelib/sources/addresses.py), because a DNS answer may change
between the two.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.auth.models import Caller
from chalicelib.errors import NotFound, Unprocessable
from chalicelib.integrations import crypto
from chalicelib.sources.addresses import AddressRefused, check_source_url
from chalicelib.timeutil import now_iso

Provider = Literal["anthropic", "openai"]
_SEAL_CONTEXT = "workspace-llm"
"""Stands in for the integration id in the KMS encryption context: this envelope opens only as
this workspace's LLM key."""


class LlmSettingsRequest(BaseModel):
    """PUT /v1/workspace/llm."""

    model_config = ConfigDict(extra="forbid")
    provider: Provider = Field(description="anthropic, or openai for any OpenAI-compatible endpoint")
    base_url: str | None = Field(default=None, max_length=500,
                                 description="required for openai: e.g. https://gateway.example.com/v1")
    model: str = Field(min_length=1, max_length=100, description="the model id the endpoint serves")
    api_key: str | None = Field(default=None, min_length=1, max_length=1000,
                                description="stored encrypted, never returned; omit to keep the stored one")

    @model_validator(mode="after")
    def _openai_needs_a_base_url(self) -> "LlmSettingsRequest":
        if self.provider == "openai" and not self.base_url:
            raise ValueError("base_url is required for an OpenAI-compatible endpoint")
        return self


class LlmSettings(BaseModel):
    """A workspace's LLM for generation, as shown: never the key."""

    provider: Provider
    base_url: str | None = None
    model: str
    has_api_key: bool = Field(description="an API key is stored (encrypted)")
    updated_at: str


class LlmSettingsRepository:
    """The LLM settings on the workspace's item in the workspaces table."""

    def __init__(self, workspaces: Any):
        self._workspaces = workspaces

    def put(self, workspace_id: str, settings: LlmSettings, envelope: dict[str, bytes] | None) -> None:
        names = {"#l": "llm"}
        values: dict[str, Any] = {":l": settings.model_dump(exclude_none=True)}
        update = "SET #l = :l"
        if envelope is not None:
            names["#e"] = "llm_envelope"
            values[":e"] = envelope
            update += ", #e = :e"
        self._workspaces.update_item(Key={"workspace_id": workspace_id}, UpdateExpression=update,
                                     ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                                     ConditionExpression="attribute_exists(workspace_id)")

    def get(self, workspace_id: str) -> tuple[LlmSettings | None, dict | None]:
        item = self._workspaces.get_item(Key={"workspace_id": workspace_id},
                                         ProjectionExpression="llm, llm_envelope").get("Item") or {}
        settings = LlmSettings.model_validate(item["llm"]) if item.get("llm") else None
        return settings, item.get("llm_envelope")

    def delete(self, workspace_id: str) -> None:
        self._workspaces.update_item(Key={"workspace_id": workspace_id}, UpdateExpression="REMOVE llm, llm_envelope")


def put_llm_settings(caller: Caller, req: LlmSettingsRequest, *, repo: LlmSettingsRepository, keyring: Any,
                     allow_private: bool) -> LlmSettings:
    """Check the endpoint (422 for a refused address), seal the key, store the settings."""
    base_url = req.base_url.rstrip("/") if req.base_url else None
    if base_url:
        try:
            check_source_url(base_url, allow_private=allow_private)
        except AddressRefused as exc:
            raise Unprocessable(f"base_url refused: {exc.message}") from exc
    envelope = None
    if req.api_key is not None:
        envelope = crypto.encrypt_credentials({"api_key": req.api_key}, workspace_id=caller.workspace_id,
                                              integration_id=_SEAL_CONTEXT, kms=keyring.kms, key_id=keyring.key_id)
    has_key = envelope is not None or repo.get(caller.workspace_id)[1] is not None
    settings = LlmSettings(provider=req.provider, base_url=base_url, model=req.model, has_api_key=has_key,
                           updated_at=now_iso())
    repo.put(caller.workspace_id, settings, envelope)
    return settings


def get_llm_settings(caller: Caller, *, repo: LlmSettingsRepository) -> LlmSettings:
    """The workspace's LLM settings; 404 when none are set (generation then uses the deployment's)."""
    settings, _ = repo.get(caller.workspace_id)
    if settings is None:
        raise NotFound("this workspace has no LLM settings; generation uses the deployment's LLM key or offline")
    return settings


def delete_llm_settings(caller: Caller, *, repo: LlmSettingsRepository) -> None:
    """Forget the workspace's LLM settings and key (generation falls back to the deployment's, and says so)."""
    repo.delete(caller.workspace_id)


def open_llm_settings(workspace_id: str, *, repo: LlmSettingsRepository,
                      keyring: Any) -> tuple[LlmSettings | None, str | None]:
    """The settings and the decrypted API key (tasks only); ``(None, None)`` when none are set."""
    settings, envelope = repo.get(workspace_id)
    if settings is None or not envelope:
        return settings, None
    creds = crypto.decrypt_credentials(envelope, workspace_id=workspace_id, integration_id=_SEAL_CONTEXT,
                                       kms=keyring.kms)
    return settings, creds["api_key"]
