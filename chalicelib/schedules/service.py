"""Scheduled imports. On AWS an EventBridge Scheduler schedule per integration invokes the
``scheduled_import`` function; locally moto stores the same schedule and a scheduler thread
(infra/local/scheduler.py) fires due ones through the same function."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable

from botocore.exceptions import ClientError

from chalicelib.auth.models import Caller
from chalicelib.integrations.models import Integration
from chalicelib.integrations.repository import IntegrationRepository
from chalicelib.jobs import service as jobs_service
from chalicelib.jobs.models import Job
from chalicelib.jobs.repository import JobRepository
from chalicelib.schedules.expressions import parse_expression
from chalicelib.schedules.models import Schedule, ScheduleRequest
from chalicelib.timeutil import now_iso


class SchedulerTarget:
    """Where schedules live and what they invoke: the Scheduler client, the stack's schedule group,
    the function and role ARNs (all from the template, through settings)."""

    def __init__(self, client: Any, *, function_arn: str, role_arn: str, group: str):
        self.client = client
        self.function_arn = function_arn
        self.role_arn = role_arn
        self.group = group

    def name(self, integration_id: str) -> str:
        """One schedule per integration, named by its id inside the stack's group."""
        return integration_id[:64]


def put_schedule(caller: Caller, integration_id: str, req: ScheduleRequest, *, repo: IntegrationRepository,
                 target: SchedulerTarget) -> Integration:
    """Create or replace the integration's schedule (stored on it and in EventBridge Scheduler)."""
    integration = repo.get(caller.workspace_id, integration_id)
    now = now_iso()
    created = integration.schedule.created_at if integration.schedule else now
    schedule = Schedule(**req.model_dump(), created_at=created, updated_at=now)
    params = dict(Name=target.name(integration_id), GroupName=target.group, ScheduleExpression=req.expression,
                  FlexibleTimeWindow={"Mode": "OFF"}, State="ENABLED",
                  Target={"Arn": target.function_arn, "RoleArn": target.role_arn,
                          "Input": json.dumps({"workspace_id": caller.workspace_id,
                                               "integration_id": integration_id})})
    if integration.schedule:
        target.client.update_schedule(**params)
    else:
        target.client.create_schedule(**params)
    repo.update_status(caller.workspace_id, integration_id, schedule=schedule.model_dump(mode="json"))
    return repo.get(caller.workspace_id, integration_id)


def delete_schedule(caller: Caller, integration_id: str, *, repo: IntegrationRepository,
                    target: SchedulerTarget) -> None:
    """Remove the integration's schedule; 404 when it has none."""
    integration = repo.get(caller.workspace_id, integration_id)
    if integration.schedule is None:
        from chalicelib.errors import NotFound

        raise NotFound(f"integration {integration_id} has no schedule")
    try:
        target.client.delete_schedule(Name=target.name(integration_id), GroupName=target.group)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    repo.remove_field(caller.workspace_id, integration_id, "schedule")


def run_scheduled_import(workspace_id: str, integration_id: str, *, repo: IntegrationRepository, jobs: JobRepository,
                         sfn: Any, state_machine_arn: str) -> Job:
    """What a firing schedule does: start an import job with the schedule's filters."""
    integration = repo.get(workspace_id, integration_id)
    schedule = integration.schedule
    if schedule is None:
        raise ValueError(f"integration {integration_id} has no schedule")
    params = {"integration_id": integration_id, "filters": schedule.filters.model_dump(mode="json"),
              "format": integration.platform,
              "scheduled": True, "run_active_evals": schedule.run_active_evals}
    job = jobs_service.start_job(workspace_id, "import", params, state_machine_arn=state_machine_arn, jobs=jobs, sfn=sfn)
    stored = schedule.model_copy(update={"last_run_at": now_iso(), "last_job_id": job.id})
    repo.update_status(workspace_id, integration_id, schedule=stored.model_dump(mode="json"))
    return job


def due_schedules(now: datetime, *, repo: IntegrationRepository) -> list[tuple[str, str]]:
    """(workspace_id, integration_id) of every schedule due at ``now``."""
    due = []
    for workspace_id, integration in repo.scheduled():
        schedule = integration.schedule
        if schedule is None:
            continue
        last = _parse(schedule.last_run_at) if schedule.last_run_at else None
        if parse_expression(schedule.expression).is_due(last, _parse(schedule.created_at), now):
            due.append((workspace_id, integration.id))
    return due


def fire_due(now: datetime, *, repo: IntegrationRepository, invoke: Callable[[dict], Any]) -> int:
    """Invoke the scheduled-import function for each due schedule; how many fired."""
    fired = 0
    for workspace_id, integration_id in due_schedules(now, repo=repo):
        invoke({"workspace_id": workspace_id, "integration_id": integration_id})
        fired += 1
    return fired


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
