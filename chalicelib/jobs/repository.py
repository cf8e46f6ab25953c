"""Job records and their progress events."""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, NotFound
from chalicelib.jobs.models import Job, JobEvent
from chalicelib.storage import is_conditional_failure, query_page, to_dynamo, to_plain
from chalicelib.timeutil import now_iso


class JobRepository:
    def __init__(self, jobs: Any, events: Any, *, retention_days: int):
        self._jobs = jobs
        self._events = events
        self._retention_s = retention_days * 86400

    def _expires_at(self) -> int:
        """The tables' TTL attribute (epoch seconds): job records and events go after the retention."""
        return int(time.time()) + self._retention_s

    def add(self, workspace_id: str, job: Job) -> None:
        item = {"workspace_id": workspace_id, "job_id": job.id, "created_key": f"{job.created_at}#{job.id}",
                **job.model_dump(exclude={"id"}), "event_count": 0, "expires_at": self._expires_at()}
        self._jobs.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(job_id)")

    def get(self, workspace_id: str, job_id: str) -> Job:
        item = self._get_item(workspace_id, job_id)
        return self._to_job(item)

    def get_item(self, workspace_id: str, job_id: str) -> dict:
        """The raw record (with execution_arn and failures)."""
        return to_plain(self._get_item(workspace_id, job_id))

    def _get_item(self, workspace_id: str, job_id: str) -> dict:
        item = self._jobs.get_item(Key={"workspace_id": workspace_id, "job_id": job_id}).get("Item")
        if not item or "created_key" not in item:  # (a counted marker is no job)
            raise NotFound(f"job {job_id} not found")
        return item

    def list(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[Job], str | None]:
        items, nxt = query_page(self._jobs, limit=limit, cursor=cursor, owner=("workspace_id", workspace_id),
                                IndexName="by_time", KeyConditionExpression=Key("workspace_id").eq(workspace_id),
                                ScanIndexForward=False)
        return [self._to_job(i) for i in items], nxt

    def set_execution(self, workspace_id: str, job_id: str, arn: str) -> None:
        self._jobs.update_item(Key={"workspace_id": workspace_id, "job_id": job_id},
                               UpdateExpression="SET execution_arn = :a", ExpressionAttributeValues={":a": arn})

    def transition(self, workspace_id: str, job_id: str, *, to: str, allowed_from: tuple[str, ...],
                   fields: dict[str, Any] | None = None) -> bool:
        """Conditionally move a job to ``to``; False when it was not in ``allowed_from``."""
        fields = dict(fields or {})
        names = {"#s": "status"}
        values: dict[str, Any] = {":to": to}
        sets = ["#s = :to"]
        for i, (k, v) in enumerate(fields.items()):
            names[f"#f{i}"] = k
            values[f":f{i}"] = to_dynamo(v)
            sets.append(f"#f{i} = :f{i}")
        conds = []
        for i, s in enumerate(allowed_from):
            values[f":a{i}"] = s
            conds.append(f":a{i}")
        try:
            self._jobs.update_item(
                Key={"workspace_id": workspace_id, "job_id": job_id}, UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=f"#s IN ({', '.join(conds)})", ExpressionAttributeNames=names,
                ExpressionAttributeValues=values)
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def mark_running(self, workspace_id: str, job_id: str) -> bool:
        """queued → running (records started_at); True if it is running now."""
        if self.transition(workspace_id, job_id, to="running", allowed_from=("queued",),
                           fields={"started_at": now_iso()}):
            return True
        return self.get(workspace_id, job_id).status == "running"

    def add_counts(self, workspace_id: str, job_id: str, counts: dict[str, int], *, progress: int | None,
                   failures: list[dict] | None = None, once: str | None = None) -> bool:
        """Add to the job's counters while it runs; Conflict when it is no longer running.

        With ``once`` (a chunk's or page's id within the job), the addition happens at most once per id:
        a marker item is written in the same transaction, so a task Step Functions retries after it
        counted (or that runs twice) counts once. False when that id was counted already."""
        names = {"#s": "status", "#c": "counters"}
        values: dict[str, Any] = {":running": "running"}
        adds = []
        for i, (k, v) in enumerate(sorted(counts.items())):
            names[f"#k{i}"] = k
            values[f":v{i}"] = v
            adds.append(f"#c.#k{i} :v{i}")
        sets = []
        if progress is not None:
            names["#p"] = "progress"
            values[":p"] = progress
            sets.append("#p = :p")
        if failures:
            names["#fl"] = "failures"
            values[":fl"] = to_dynamo(failures)
            values[":empty"] = []
            sets.append("#fl = list_append(if_not_exists(#fl, :empty), :fl)")
        expr = ("SET " + ", ".join(sets) + " " if sets else "") + ("ADD " + ", ".join(adds) if adds else "")
        if not expr.strip():
            return True
        update = {"Key": {"workspace_id": workspace_id, "job_id": job_id}, "UpdateExpression": expr,
                  "ConditionExpression": "#s = :running", "ExpressionAttributeNames": names,
                  "ExpressionAttributeValues": values}
        try:
            if once is None:
                self._jobs.update_item(**update)
                return True
            # the table resource's client serializes plain values itself
            self._jobs.meta.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._jobs.name, "Item": self._counted_marker(workspace_id, job_id, once),
                         "ConditionExpression": "attribute_not_exists(job_id)"}},
                {"Update": {"TableName": self._jobs.name, **update}}])
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if is_conditional_failure(exc):
                raise Conflict(f"job {job_id} is no longer running") from exc
            raise
        return True

    def _counted_marker(self, workspace_id: str, job_id: str, once: str) -> dict:
        """The item recording that ``once``'s counts were added (no ``created_key``: never listed as a job;
        it expires with the job)."""
        return {"workspace_id": workspace_id, "job_id": f"{job_id}#counted#{once}", "expires_at": self._expires_at()}

    def append_event(self, job_id_key: tuple[str, str], message: str, *, progress: int | None = None,
                     data: dict | None = None) -> JobEvent:
        """Append a progress event with the next sequence number."""
        workspace_id, job_id = job_id_key
        seq = int(self._jobs.update_item(
            Key={"workspace_id": workspace_id, "job_id": job_id}, UpdateExpression="ADD event_count :one",
            ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")["Attributes"]["event_count"])
        event = JobEvent(seq=seq, at=now_iso(), message=message, progress=progress, data=data or {})
        self._events.put_item(Item=to_dynamo({"job_id": job_id, **event.model_dump(), "expires_at": self._expires_at()}))
        return event

    def list_events(self, job_id: str, *, after: int, limit: int) -> list[JobEvent]:
        items = self._events.query(KeyConditionExpression=Key("job_id").eq(job_id) & Key("seq").gt(after),
                                   Limit=limit)["Items"]
        return [JobEvent(**{k: v for k, v in to_plain(i).items() if k in JobEvent.model_fields}) for i in items]

    @staticmethod
    def _to_job(item: dict) -> Job:
        plain = to_plain(item)
        plain["id"] = plain.pop("job_id")
        return Job.model_validate({k: v for k, v in plain.items() if k in Job.model_fields})
