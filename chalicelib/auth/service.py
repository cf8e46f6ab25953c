"""Sign-up, key management and resolving a bearer key to a caller."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from chalicelib.auth.models import (
    ApiKey, Caller, CreateApiKeyRequest, CreatedApiKey, CreatedWorkspace, CreateWorkspaceRequest, Role, Workspace,
    WorkspaceInfo,
)
from chalicelib.auth.repository import AuthRepository
from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.ids import new_id
from chalicelib.timeutil import format_iso, now_iso

KEY_PREFIX = "iof_"
LAST_USED_RESOLUTION = timedelta(minutes=5)  # last_used_at is written at most this often per key


def hash_key(key: str) -> str:
    """Keys are 256-bit random, so a plain SHA-256 is a safe lookup hash."""
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(role: Role, label: str) -> tuple[str, ApiKey]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, ApiKey(id=new_id("key"), label=label, role=role, created_at=now_iso())


def create_workspace(req: CreateWorkspaceRequest, *, repo: AuthRepository) -> CreatedWorkspace:
    """A new workspace with an owner key (shown once)."""
    workspace = Workspace(id=new_id("ws"), name=req.name, created_at=now_iso())
    secret, key = _new_key("owner", "owner")
    repo.add_workspace(workspace, hash_key(secret), key)
    return CreatedWorkspace(workspace=workspace, api_key=secret)


def ensure_first_workspace(name: str, *, repo: AuthRepository) -> CreatedWorkspace | Workspace:
    """A deployment's first workspace and owner key (shown once), or the workspace that already
    exists: a second call creates nothing."""
    existing = repo.any_workspace()
    if existing is not None:
        return existing
    return create_workspace(CreateWorkspaceRequest(name=name), repo=repo)


def authenticate(authorization: str | None, *, repo: AuthRepository) -> Caller:
    """The caller for an ``Authorization: Bearer <key>`` header; 401 otherwise. Records the key's use
    (at most every ``LAST_USED_RESOLUTION``, so a busy key costs one extra write per interval)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("missing bearer API key: send 'Authorization: Bearer <key>'")
    key_hash = hash_key(authorization[len("Bearer "):].strip())
    found = repo.find_key(key_hash)
    if found is None:
        raise Unauthenticated("invalid API key")
    workspace_id, key = found
    now = datetime.now(timezone.utc)
    cutoff = format_iso(now - LAST_USED_RESOLUTION)
    if key.last_used_at is None or key.last_used_at < cutoff:
        repo.touch_key(key_hash, used_at=format_iso(now), older_than=cutoff)
    return Caller(workspace_id=workspace_id, role=key.role, key_id=key.id)


def require(caller: Caller, role: Role) -> Caller:
    """403 unless the caller's role is at least ``role``."""
    if not caller.can(role):
        raise Forbidden(f"this needs the {role} role; your key has {caller.role}")
    return caller


def describe_workspace(caller: Caller, *, repo: AuthRepository) -> WorkspaceInfo:
    return WorkspaceInfo(workspace=repo.get_workspace(caller.workspace_id), role=caller.role, key_id=caller.key_id)


def create_api_key(caller: Caller, req: CreateApiKeyRequest, *, repo: AuthRepository) -> CreatedApiKey:
    """A new key for the caller's workspace; nobody may mint a role above their own."""
    require(caller, req.role)
    secret, key = _new_key(req.role, req.label)
    repo.add_key(caller.workspace_id, hash_key(secret), key)
    return CreatedApiKey(key=secret, **key.model_dump())


def list_api_keys(caller: Caller, *, repo: AuthRepository) -> list[ApiKey]:
    return repo.list_keys(caller.workspace_id)


def delete_api_key(caller: Caller, key_id: str, *, repo: AuthRepository) -> None:
    """Revoke a key: only with a role at least the key's own; the last owner key stays (409)."""
    key_hash, key = repo.find_key_by_id(caller.workspace_id, key_id)
    require(caller, key.role)
    repo.delete_key(caller.workspace_id, key_hash, key)
