"""Settings, validated once from the environment and read lazily (never at import time)."""

from __future__ import annotations

import functools
import os
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from chalicelib.errors import IofoldError


class ConfigError(IofoldError):
    """The environment does not describe a usable deployment."""


class Settings(BaseModel):
    """Everything configurable, with the local stack's defaults."""

    stage: str = Field(default="local", description="local, dev, prod")
    resource_prefix: str = Field(default="iofold-local", description="prefix of every AWS resource name")
    region: str = "us-east-1"
    account_id: str = Field(default="123456789012", description="for building state machine and Lambda ARNs")
    allow_signup: bool = Field(default=False, description="POST /v1/workspaces without an owner key")
    anthropic_api_key: str | None = None
    anthropic_model: str | None = Field(default=None, description="default: the generator's DEFAULT_MODEL")
    max_body_bytes: int = Field(default=6 * 1024 * 1024, description="larger request bodies get 413")
    upload_max_bytes: int = Field(default=1024 ** 3, ge=1, description="largest uploaded file, also once decompressed")
    trace_inline_bytes: int = Field(default=48 * 1024, description="gzipped bodies above this go to S3")
    execute_chunk_size: int = Field(default=200, ge=1, le=5000)
    execute_max_concurrency: int = Field(default=4, ge=1, le=40)
    source_timeout_s: float = Field(default=30.0, gt=0)
    source_max_attempts: int = Field(default=6, ge=1, le=20)
    allow_private_sources: bool = Field(default=False, description="let sources live on loopback and private "
                                        "addresses (the local stack's fakes); never in a deployed stack")
    log_level: str = "INFO"
    version: str = "0.1.0"

    def table_name(self, name: str) -> str:
        return f"{self.resource_prefix}-{name}"

    @property
    def bucket_name(self) -> str:
        return f"{self.resource_prefix}-{self.account_id}-data"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.resource_prefix}-credentials"

    def function_name(self, name: str) -> str:
        return f"{self.resource_prefix}-{name}"

    def state_machine_name(self, name: str) -> str:
        return f"{self.resource_prefix}-{name}"

    def state_machine_arn(self, name: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{self.state_machine_name(name)}"


_ENV = {
    "stage": "IOFOLD_STAGE",
    "resource_prefix": "IOFOLD_RESOURCE_PREFIX",
    "region": "AWS_DEFAULT_REGION",
    "account_id": "IOFOLD_ACCOUNT_ID",
    "allow_signup": "IOFOLD_ALLOW_SIGNUP",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_model": "IOFOLD_ANTHROPIC_MODEL",
    "max_body_bytes": "IOFOLD_MAX_BODY_BYTES",
    "trace_inline_bytes": "IOFOLD_TRACE_INLINE_BYTES",
    "upload_max_bytes": "IOFOLD_UPLOAD_MAX_BYTES",
    "execute_chunk_size": "IOFOLD_EXECUTE_CHUNK_SIZE",
    "execute_max_concurrency": "IOFOLD_EXECUTE_MAX_CONCURRENCY",
    "source_timeout_s": "IOFOLD_SOURCE_TIMEOUT_S",
    "source_max_attempts": "IOFOLD_SOURCE_MAX_ATTEMPTS",
    "allow_private_sources": "IOFOLD_ALLOW_PRIVATE_SOURCES",
    "log_level": "IOFOLD_LOG_LEVEL",
}


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping; raise ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field, var in _ENV.items():
        if env.get(var) not in (None, ""):
            values[field] = env[var]
    if "region" not in values and env.get("AWS_REGION"):
        values["region"] = env["AWS_REGION"]
    try:
        return Settings(**values)
    except ValidationError as exc:
        bad = ", ".join(f"{_ENV.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {bad}") from exc


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return settings_from_env()


def reset_settings() -> None:
    """Forget cached settings and clients (tests and the local stack change the environment)."""
    get_settings.cache_clear()
