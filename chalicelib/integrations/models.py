"""Connections to trace sources. Credentials are write-only: no response model carries them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from chalicelib.schedules.models import Schedule

Platform = Literal["langfuse", "langsmith", "openai"]
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "langfuse": ("public_key", "secret_key"),
    "langsmith": ("api_key",),
    "openai": ("api_key",),
}
SUPPORTED_PLATFORMS = ("langfuse", "langsmith", "openai")


class CreateIntegrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: Platform
    name: str = Field(min_length=1, max_length=200)
    base_url: HttpUrl
    credentials: dict[str, str] = Field(description="langfuse: public_key, secret_key; langsmith/openai: api_key")
    mode: Literal["v1", "v2"] = Field(default="v1", description="langfuse: v1 trace endpoints or v2 cursor observations")
    project: str | None = Field(default=None, min_length=1, max_length=200,
                                description="langsmith: project (session) name or id; every project of the key when omitted")
    group_by: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$",
                                 description="openai: the metadata key whose value groups stored completions into "
                                             "one trace; one completion per trace when omitted")

    @model_validator(mode="after")
    def _check_credentials(self) -> "CreateIntegrationRequest":
        missing = [k for k in REQUIRED_CREDENTIALS[self.platform] if not self.credentials.get(k)]
        if missing:
            raise ValueError(f"credentials for {self.platform} need: {', '.join(missing)}")
        return self


class Integration(BaseModel):
    """An integration as the API shows it: never its credentials."""

    id: str
    platform: Platform
    name: str
    base_url: str
    mode: str = "v1"
    project: str | None = Field(default=None, description="langsmith: the project read, if limited to one")
    group_by: str | None = Field(default=None, description="openai: the metadata key grouping completions into traces")
    status: Literal["new", "ok", "error"] = "new"
    status_detail: str | None = None
    last_sync_at: str | None = None
    last_checked_at: str | None = None
    created_at: str
    schedule: Schedule | None = Field(default=None, description="scheduled import, if any")


class TestResult(BaseModel):
    ok: bool
    detail: str
