"""The composition root: lazy getters that build repositories from settings and clients.
Routes and task handlers call these; domain code receives what they return.

Each getter resolves the resource names it needs on every call (a cheap lookup) and caches
what it builds by those names: a function whose environment lacks a variable fails with a
ConfigError naming it, even when another function in the same process built the repository."""

from __future__ import annotations

import functools
from typing import Any, Callable

from chalicelib import clients
from chalicelib.auth.repository import AuthRepository
from chalicelib.config import get_settings
from chalicelib.integrations.repository import IntegrationRepository
from chalicelib.integrations.service import Keyring
from chalicelib.jobs.repository import JobRepository
from chalicelib.sources.addresses import check_source_url
from chalicelib.traces.repository import TraceRepository


def reset() -> None:
    """Forget every cached client and repository (tests, local stack start)."""
    clients.reset_clients()
    for getter in (_auth_repo, _job_repo, _trace_repo, _integration_repo, _keyring, _eval_set_repo, _eval_repo):
        getter.cache_clear()


def _tables(*names: str) -> tuple[str, ...]:
    s = get_settings()
    return tuple(s.table(n) for n in names)


def auth_repo() -> AuthRepository:
    return _auth_repo(_tables("workspaces", "api_keys"))


@functools.lru_cache(maxsize=None)
def _auth_repo(names: tuple[str, ...]) -> AuthRepository:
    return AuthRepository(clients.dynamodb_table("workspaces"), clients.dynamodb_table("api_keys"),
                          clients.aws_client("dynamodb"))


def job_repo() -> JobRepository:
    return _job_repo(_tables("jobs", "job_events"))


@functools.lru_cache(maxsize=None)
def _job_repo(names: tuple[str, ...]) -> JobRepository:
    return JobRepository(clients.dynamodb_table("jobs"), clients.dynamodb_table("job_events"),
                         retention_days=get_settings().job_retention_days)


def bucket():
    """The data bucket (IOFOLD_BUCKET)."""
    return clients.s3_bucket(get_settings().bucket)


def trace_repo() -> TraceRepository:
    s = get_settings()
    return _trace_repo(_tables("traces", "trace_times"), s.bucket, s.trace_inline_bytes)


@functools.lru_cache(maxsize=None)
def _trace_repo(names: tuple[str, ...], bucket_name: str, inline_bytes: int) -> TraceRepository:
    return TraceRepository(clients.dynamodb_table("traces"), clients.s3_bucket(bucket_name),
                           times=clients.dynamodb_table("trace_times"), inline_bytes=inline_bytes)


def integration_repo() -> IntegrationRepository:
    return _integration_repo(_tables("integrations"))


@functools.lru_cache(maxsize=None)
def _integration_repo(names: tuple[str, ...]) -> IntegrationRepository:
    return IntegrationRepository(clients.dynamodb_table("integrations"))


def keyring() -> Keyring:
    """The credentials key (IOFOLD_KMS_KEY) for envelope encryption of integration credentials."""
    return _keyring(get_settings().kms_key)


@functools.lru_cache(maxsize=None)
def _keyring(key_id: str) -> Keyring:
    return Keyring(clients.aws_client("kms"), key_id)


def sfn():
    return clients.aws_client("stepfunctions")


def state_machine_arn(name: str) -> str:
    """The ARN of one state machine (IOFOLD_SM_<NAME>)."""
    return get_settings().state_machine_arn(name)


def eval_set_repo():
    return _eval_set_repo(_tables("eval_sets", "feedback"))


@functools.lru_cache(maxsize=None)
def _eval_set_repo(names: tuple[str, ...]):
    from chalicelib.evalsets.repository import EvalSetRepository

    return EvalSetRepository(clients.dynamodb_table("eval_sets"), clients.dynamodb_table("feedback"),
                             clients.aws_client("dynamodb"))


def eval_set_ratings():
    from chalicelib.evals.service import EvalSetRatings

    return EvalSetRatings(eval_set_repo())


def eval_repo():
    return _eval_repo(_tables("evals", "executions", "eval_sets", "eval_trends"))


@functools.lru_cache(maxsize=None)
def _eval_repo(names: tuple[str, ...]):
    from chalicelib.evals.repository import EvalRepository
    from chalicelib.evals.trends import TrendStore

    return EvalRepository(clients.dynamodb_table("evals"), clients.dynamodb_table("executions"),
                          clients.dynamodb_table("eval_sets"), TrendStore(clients.dynamodb_table("eval_trends")))


def upload_store():
    """Uploaded files in the data bucket; the size cap is read from settings on each call."""
    from chalicelib.traces.uploads import UploadStore

    return UploadStore(bucket(), clients.s3_presigner(), max_bytes=get_settings().upload_max_bytes)


def deleted_sets():
    """Markers of deleted eval sets whose contents are still being removed (deleted_sets/)."""
    from chalicelib.evalsets.cleanup import DeletedSets

    return DeletedSets(bucket())


def span_store():
    """Received OTLP spans in the data bucket (spans/, otlp_pending/)."""
    from chalicelib.otlp.spans import SpanStore

    return SpanStore(bucket())


def job_files():
    from chalicelib.jobs.files import JobFiles

    return JobFiles(bucket())


def sandbox(context: Any = None):
    """The sandbox, reached through its own function (IOFOLD_SANDBOX_FUNCTION; never run in this process);
    with the calling task's Lambda ``context``, calls stay within that task's remaining time."""
    from chalicelib.evals.sandbox_client import LambdaSandbox

    return LambdaSandbox(clients.sandbox_lambda_client(), get_settings().sandbox_function,
                         remaining_ms=getattr(context, "get_remaining_time_in_millis", None))


def llm_settings_repo():
    """The workspaces' LLM settings (on the workspaces table)."""
    from chalicelib.generation.workspace_llm import LlmSettingsRepository

    return LlmSettingsRepository(clients.dynamodb_table("workspaces"))


def generator(choice: str, workspace_id: str):
    """The generator for a job and why it was chosen: ``(generator, reason)``; never a silent fallback.

    ``offline`` is offline. ``openai`` needs the workspace's OpenAI-compatible endpoint
    (PUT /v1/workspace/llm). ``anthropic`` uses the workspace's Anthropic key, else the
    deployment's. ``auto`` takes the workspace's LLM settings, else the deployment's Anthropic key,
    else runs offline and says why. A missing endpoint or key raises LlmKeyMissing (the job fails
    with that reason)."""
    from chalicelib.generation.base import LlmKeyMissing
    from chalicelib.generation.workspace_llm import open_llm_settings

    if choice == "offline":
        return _offline(), "offline generator requested"
    settings = get_settings()
    workspace_llm, workspace_key = open_llm_settings(workspace_id, repo=llm_settings_repo(), keyring=keyring())
    asked = "requested" if choice != "auto" else "auto"
    if workspace_llm is not None and workspace_llm.provider == "openai" and choice in ("auto", "openai"):
        from chalicelib.generation.openai_compat import OpenAICompatibleGenerator

        return _hybrid(OpenAICompatibleGenerator(clients.openai_client(workspace_llm.base_url, workspace_key),
                                                 model=workspace_llm.model),
                       f"openai {asked}: the workspace's OpenAI-compatible endpoint {workspace_llm.base_url}, "
                       f"model {workspace_llm.model}")
    if choice == "openai":
        raise LlmKeyMissing("the openai generator was requested but this workspace has no OpenAI-compatible "
                            "endpoint (set one with PUT /v1/workspace/llm)")
    from chalicelib.generation.anthropic import DEFAULT_MODEL, AnthropicGenerator

    if workspace_llm is not None and workspace_llm.provider == "anthropic" and workspace_key:
        return _hybrid(AnthropicGenerator(clients.anthropic_client(workspace_key), model=workspace_llm.model),
                       f"anthropic {asked}: the workspace's Anthropic key, model {workspace_llm.model}")
    key, source = clients.llm_api_key()
    if key:
        model = settings.anthropic_model or DEFAULT_MODEL
        return _hybrid(AnthropicGenerator(clients.anthropic_client(key), model=model), f"LLM key from {source}")
    if choice == "anthropic":
        raise LlmKeyMissing(f"the anthropic generator was requested but {source}")
    return _offline(), source


def _hybrid(llm, reason: str):
    """An LLM generator joined with the offline inducer (chalicelib/generation/hybrid.py), and why."""
    from chalicelib.generation.hybrid import HybridGenerator

    return (HybridGenerator(llm, _offline(), sandbox()),
            f"{reason}; hybrid: the model writes an eval and predicates, the offline inducer fits its features "
            "and the predicates (run in the sandbox), grouped cross-validation chooses among the three")


def _offline():
    from chalicelib.generation.offline import OfflineGenerator

    return OfflineGenerator()


def source_url_check() -> Callable[[str], None]:
    """Raises AddressRefused for a source URL this deployment may not reach (settings decide loopback)."""
    return functools.partial(check_source_url, allow_private=get_settings().allow_private_sources)


def scheduler_target():
    """EventBridge Scheduler and what schedules invoke (the scheduled_import function), all from settings."""
    from chalicelib.config import SCHEDULE_GROUP_VAR, SCHEDULE_ROLE_ARN_VAR, SCHEDULE_TARGET_ARN_VAR
    from chalicelib.schedules.service import SchedulerTarget

    s = get_settings()
    return SchedulerTarget(clients.aws_client("scheduler"), function_arn=s.resource(SCHEDULE_TARGET_ARN_VAR),
                           role_arn=s.resource(SCHEDULE_ROLE_ARN_VAR), group=s.resource(SCHEDULE_GROUP_VAR))
