"""The composition root: lazy getters that build repositories from settings and clients.
Routes and task handlers call these; domain code receives what they return."""

from __future__ import annotations

import functools
from typing import Callable

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
    for getter in (auth_repo, job_repo, trace_repo, integration_repo, keyring, bucket, eval_set_repo, eval_repo):
        getter.cache_clear()


@functools.lru_cache(maxsize=None)
def auth_repo() -> AuthRepository:
    return AuthRepository(clients.dynamodb_table("workspaces"), clients.dynamodb_table("api_keys"),
                          clients.aws_client("dynamodb"))


@functools.lru_cache(maxsize=None)
def job_repo() -> JobRepository:
    return JobRepository(clients.dynamodb_table("jobs"), clients.dynamodb_table("job_events"))


@functools.lru_cache(maxsize=None)
def bucket():
    import boto3

    session = boto3.session.Session(region_name=get_settings().region)
    return session.resource("s3").Bucket(get_settings().bucket_name)


@functools.lru_cache(maxsize=None)
def trace_repo() -> TraceRepository:
    return TraceRepository(clients.dynamodb_table("traces"), bucket(), inline_bytes=get_settings().trace_inline_bytes)


@functools.lru_cache(maxsize=None)
def integration_repo() -> IntegrationRepository:
    return IntegrationRepository(clients.dynamodb_table("integrations"))


@functools.lru_cache(maxsize=None)
def keyring() -> Keyring:
    return Keyring(clients.aws_client("kms"), get_settings().kms_alias)


def sfn():
    return clients.aws_client("stepfunctions")


def state_machine_arn(name: str) -> str:
    return get_settings().state_machine_arn(name)


@functools.lru_cache(maxsize=None)
def eval_set_repo():
    from chalicelib.evalsets.repository import EvalSetRepository

    return EvalSetRepository(clients.dynamodb_table("eval_sets"), clients.dynamodb_table("feedback"),
                             clients.aws_client("dynamodb"))


def eval_set_ratings():
    from chalicelib.evals.service import EvalSetRatings

    return EvalSetRatings(eval_set_repo())


@functools.lru_cache(maxsize=None)
def eval_repo():
    from chalicelib.evals.repository import EvalRepository

    return EvalRepository(clients.dynamodb_table("evals"), clients.dynamodb_table("executions"),
                          clients.dynamodb_table("eval_sets"))


def upload_store():
    """Uploaded files in the data bucket; the size cap is read from settings on each call."""
    from chalicelib.traces.uploads import UploadStore

    return UploadStore(bucket(), clients.s3_presigner(), max_bytes=get_settings().upload_max_bytes)


def job_files():
    from chalicelib.jobs.files import JobFiles

    return JobFiles(bucket())


def sandbox():
    """The sandbox, reached through its own function (never run in this process)."""
    from chalicelib.evals.sandbox_client import LambdaSandbox

    return LambdaSandbox(clients.aws_client("lambda"), get_settings().function_name("sandbox"))


def generator(choice: str):
    """The generator for a job: anthropic when asked (or auto with a key), else offline."""
    settings = get_settings()
    if choice == "anthropic" or (choice == "auto" and settings.anthropic_api_key):
        from chalicelib.generation.anthropic import AnthropicGenerator

        from chalicelib.generation.anthropic import DEFAULT_MODEL

        return AnthropicGenerator(clients.anthropic_client(), model=settings.anthropic_model or DEFAULT_MODEL)
    from chalicelib.generation.offline import OfflineGenerator

    return OfflineGenerator()


def source_url_check() -> Callable[[str], None]:
    """Raises AddressRefused for a source URL this deployment may not reach (settings decide loopback)."""
    return functools.partial(check_source_url, allow_private=get_settings().allow_private_sources)


def scheduler_target():
    """EventBridge Scheduler and what schedules invoke (the scheduled_import function)."""
    from chalicelib.schedules.service import SchedulerTarget

    s = get_settings()
    return SchedulerTarget(clients.aws_client("scheduler"),
                           function_arn=f"arn:aws:lambda:{s.region}:{s.account_id}:function:{s.function_name('scheduled_import')}",
                           role_arn=f"arn:aws:iam::{s.account_id}:role/{s.resource_prefix}-scheduler",
                           name_prefix=s.resource_prefix)
