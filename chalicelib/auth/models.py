"""Workspaces, API keys and roles."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["owner", "admin", "member", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


class Caller(BaseModel):
    """Who is calling: resolved from the bearer key on every request."""

    workspace_id: str
    role: Role
    key_id: str

    def can(self, role: Role) -> bool:
        """True when the caller's role is at least ``role``."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class Workspace(BaseModel):
    id: str
    name: str
    created_at: str


class ApiKey(BaseModel):
    """An API key as listed: never the key itself."""

    id: str
    label: str
    role: Role
    created_at: str
    last_used_at: str | None = Field(default=None, description="last authenticated request (to within 5 minutes); "
                                                              "null if never used")


class CreateWorkspaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class CreatedWorkspace(BaseModel):
    """The new workspace and its owner key, shown once."""

    workspace: Workspace
    api_key: str


class WorkspaceInfo(BaseModel):
    """The caller's workspace and role."""

    workspace: Workspace
    role: Role
    key_id: str


class CreateApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=200)
    role: Role = "member"


class CreatedApiKey(ApiKey):
    key: str = Field(description="the secret key, shown once")
