"""Settings, validated once from the environment and read lazily (never at import time).

Code never builds an AWS resource name: every table, the bucket, the KMS key, the state
machines, the sandbox function, the scheduler's target, role and group and the LLM secret
reach a function through an environment variable (names below) that the template sets with
``Ref``/``GetAtt`` and the local stack sets from what it creates. infra/resources.py declares
which variables each function gets; a missing one is a ConfigError naming it, raised when the
resource is first used.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, Field, ValidationError

from chalicelib.errors import IofoldError


class ConfigError(IofoldError):
    """The environment does not describe a usable deployment."""


# --- the environment-variable contract (infra/resources.py declares who gets which) -------

BUCKET_VAR = "IOFOLD_BUCKET"
KMS_KEY_VAR = "IOFOLD_KMS_KEY"
SANDBOX_FUNCTION_VAR = "IOFOLD_SANDBOX_FUNCTION"
SCHEDULE_TARGET_ARN_VAR = "IOFOLD_SCHEDULE_TARGET_ARN"
SCHEDULE_ROLE_ARN_VAR = "IOFOLD_SCHEDULE_ROLE_ARN"
SCHEDULE_GROUP_VAR = "IOFOLD_SCHEDULE_GROUP"
LLM_SECRET_ARN_VAR = "IOFOLD_LLM_SECRET_ARN"
JOB_RETENTION_DAYS_VAR = "IOFOLD_JOB_RETENTION_DAYS"  # a setting the template sets (JobRetentionDays), not a resource
SCHEDULE_VARS = (SCHEDULE_TARGET_ARN_VAR, SCHEDULE_ROLE_ARN_VAR, SCHEDULE_GROUP_VAR)
_TABLE_PREFIX = "IOFOLD_TABLE_"
_STATE_MACHINE_PREFIX = "IOFOLD_SM_"
_FIXED_RESOURCE_VARS = (BUCKET_VAR, KMS_KEY_VAR, SANDBOX_FUNCTION_VAR, *SCHEDULE_VARS, LLM_SECRET_ARN_VAR)


def table_var(name: str) -> str:
    """``traces`` → ``IOFOLD_TABLE_TRACES``."""
    return _TABLE_PREFIX + name.upper()


def state_machine_var(name: str) -> str:
    """``import_traces`` → ``IOFOLD_SM_IMPORT_TRACES``."""
    return _STATE_MACHINE_PREFIX + name.upper()


def is_resource_var(var: str) -> bool:
    return var in _FIXED_RESOURCE_VARS or var.startswith((_TABLE_PREFIX, _STATE_MACHINE_PREFIX))


# Locally every function runs in one process: the local stack narrows what a function may read
# to its own declaration while its handler runs, as its own environment would on AWS.
_visible: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar("iofold_visible_vars", default=None)
_reads: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("iofold_read_vars", default=None)


@contextlib.contextmanager
def only_variables(names: Iterable[str], *, record: set[str] | None = None) -> Iterator[None]:
    """Within this block (this thread/context), resource variables outside ``names`` read as unset;
    the names of variables read are added to ``record`` when given."""
    token = _visible.set(frozenset(names))
    reads = _reads.set(record)
    try:
        yield
    finally:
        _reads.reset(reads)
        _visible.reset(token)


class Settings(BaseModel):
    """Everything configurable, with the local stack's defaults."""

    stage: str = Field(default="local", description="local, dev, prod")
    region: str = "us-east-1"
    allow_signup: bool = Field(default=False, description="POST /v1/workspaces without an owner key")
    anthropic_api_key: str | None = Field(default=None, description="local only; deployed, the key is in the LLM secret")
    anthropic_model: str | None = Field(default=None, description="default: the generator's DEFAULT_MODEL")
    max_body_bytes: int = Field(default=6 * 1024 * 1024, description="larger request bodies get 413")
    upload_max_bytes: int = Field(default=1024 ** 3, ge=1, description="largest uploaded file, also once decompressed")
    trace_inline_bytes: int = Field(default=48 * 1024, description="a gzipped body above this gets an S3 object "
                                    "of its own; smaller ones share their import page's object")
    execute_chunk_size: int = Field(default=300, ge=1, le=5000, description="traces per execute chunk (one "
                                    "Distributed Map child): a multiple of the sandbox's traces per call (150), "
                                    "so no call runs a partial batch")
    execute_max_concurrency: int = Field(default=4, ge=1, le=10_000, description="chunks running at once (the "
                                         "Distributed Map's MaxConcurrency; the template's ExecuteMaxConcurrency)")
    execute_tolerated_failure_percent: float = Field(default=5.0, ge=0, le=100, description="failed chunks a run "
                                                     "tolerates (in percent of its chunks) before it fails; the "
                                                     "job of a run with failed chunks ends partial")
    import_pages_per_execution: int = Field(default=100, ge=1, le=2000, description="an import continues in a new "
                                            "execution after this many pages (Step Functions' history limit)")
    import_batch_traces: int = Field(default=500, ge=1, le=1000, description="an import reads source pages on "
                                     "until it holds this many traces, then stores and counts them together")
    source_timeout_s: float = Field(default=30.0, gt=0)
    source_max_attempts: int = Field(default=6, ge=1, le=20)
    allow_private_sources: bool = Field(default=False, description="let sources live on loopback and private "
                                        "addresses (the local stack's fakes); never in a deployed stack")
    otlp_quiet_seconds: int = Field(default=30, ge=0, le=3600,
                                    description="an OTLP trace is assembled once no span arrived for this long "
                                                "(or as soon as its root span has ended)")
    otlp_run_active_evals: bool = Field(default=False, description="after assembling OTLP traces, run every active "
                                                                     "eval of their workspace over the new ones")
    job_retention_days: int = Field(default=30, ge=1, le=3650,
                                    description="job records, events and working files expire after this many days")
    log_level: str = "INFO"
    version: str = "0.1.0"
    resources: dict[str, str] = Field(default_factory=dict,
                                      description="IOFOLD_TABLE_*, IOFOLD_SM_*, IOFOLD_BUCKET … as the environment gave them")

    def resource(self, var: str, *, required: bool = True) -> str | None:
        """The value of one resource variable; ConfigError naming it when it is missing."""
        visible, reads = _visible.get(), _reads.get()
        if reads is not None:
            reads.add(var)
        value = self.resources.get(var) if visible is None or var in visible else None
        if not value and required:
            raise ConfigError(f"{var} is not set: this function's environment does not name the resource "
                              f"(the template sets it for the functions infra/resources.py declares)")
        return value or None

    def table(self, name: str) -> str:
        return self.resource(table_var(name))  # type: ignore[return-value]

    def state_machine_arn(self, name: str) -> str:
        return self.resource(state_machine_var(name))  # type: ignore[return-value]

    @property
    def bucket(self) -> str:
        return self.resource(BUCKET_VAR)  # type: ignore[return-value]

    @property
    def kms_key(self) -> str:
        return self.resource(KMS_KEY_VAR)  # type: ignore[return-value]

    @property
    def sandbox_function(self) -> str:
        return self.resource(SANDBOX_FUNCTION_VAR)  # type: ignore[return-value]

    @property
    def llm_secret_arn(self) -> str | None:
        """Optional: without it (and without ANTHROPIC_API_KEY) generation says it ran offline and why."""
        return self.resource(LLM_SECRET_ARN_VAR, required=False)


_ENV = {
    "stage": "IOFOLD_STAGE",
    "region": "AWS_DEFAULT_REGION",
    "allow_signup": "IOFOLD_ALLOW_SIGNUP",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_model": "IOFOLD_ANTHROPIC_MODEL",
    "max_body_bytes": "IOFOLD_MAX_BODY_BYTES",
    "trace_inline_bytes": "IOFOLD_TRACE_INLINE_BYTES",
    "upload_max_bytes": "IOFOLD_UPLOAD_MAX_BYTES",
    "execute_chunk_size": "IOFOLD_EXECUTE_CHUNK_SIZE",
    "execute_max_concurrency": "IOFOLD_EXECUTE_MAX_CONCURRENCY",
    "execute_tolerated_failure_percent": "IOFOLD_EXECUTE_TOLERATED_FAILURE_PERCENT",
    "import_pages_per_execution": "IOFOLD_IMPORT_PAGES_PER_EXECUTION",
    "import_batch_traces": "IOFOLD_IMPORT_BATCH_TRACES",
    "source_timeout_s": "IOFOLD_SOURCE_TIMEOUT_S",
    "source_max_attempts": "IOFOLD_SOURCE_MAX_ATTEMPTS",
    "allow_private_sources": "IOFOLD_ALLOW_PRIVATE_SOURCES",
    "otlp_quiet_seconds": "IOFOLD_OTLP_QUIET_SECONDS",
    "otlp_run_active_evals": "IOFOLD_OTLP_RUN_ACTIVE_EVALS",
    "log_level": "IOFOLD_LOG_LEVEL",
    "job_retention_days": JOB_RETENTION_DAYS_VAR,
}


def env_var(field: str) -> str:
    """The environment variable of one setting (e.g. ``execute_max_concurrency``)."""
    return _ENV[field]


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping; raise ConfigError naming the bad variable."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field, var in _ENV.items():
        if env.get(var) not in (None, ""):
            values[field] = env[var]
    if "region" not in values and env.get("AWS_REGION"):
        values["region"] = env["AWS_REGION"]
    values["resources"] = {k: v for k, v in env.items() if is_resource_var(k) and v}
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
