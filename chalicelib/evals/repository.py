"""Eval versions (evals table) and their per-trace results (executions table)."""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, NotFound
from chalicelib.evals.models import EvalVersion, Execution
from chalicelib.evals.trends import TrendStore
from chalicelib.storage import batch_get, delete_partition, is_conditional_failure, query_page, to_dynamo, to_plain
from chalicelib.timeutil import now_iso


class ResultCell(NamedTuple):
    """The part of an execution a matrix cell shows."""

    result: str
    reason: str
    duration_ms: int


class EvalRepository:
    def __init__(self, evals: Any, executions: Any, eval_sets: Any, trends: TrendStore):
        self._evals = evals
        self._executions = executions
        self._eval_sets = eval_sets
        self.trends = trends

    # --- versions ---

    def next_version(self, workspace_id: str, eval_set_id: str) -> int:
        """The next version number of a set (an atomic counter on the set's record)."""
        try:
            attrs = self._eval_sets.update_item(
                Key={"workspace_id": workspace_id, "eval_set_id": eval_set_id},
                UpdateExpression="ADD version_counter :one", ConditionExpression="attribute_exists(eval_set_id)",
                ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")["Attributes"]
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFound(f"eval set {eval_set_id} not found") from exc
            raise
        return int(attrs["version_counter"])

    def add(self, workspace_id: str, version: EvalVersion) -> None:
        item = {"workspace_id": workspace_id, "eval_id": version.id, **version.model_dump(exclude={"id"})}
        self._evals.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(eval_id)")

    def get(self, workspace_id: str, eval_id: str) -> EvalVersion:
        """A version of the caller's workspace; 404 otherwise."""
        found = self._evals.query(IndexName="by_id", KeyConditionExpression=Key("eval_id").eq(eval_id))["Items"]
        key = next((i for i in found if i.get("workspace_id") == workspace_id), None)
        item = key and self._evals.get_item(Key={"eval_set_id": key["eval_set_id"], "eval_id": eval_id}).get("Item")
        if not item:
            raise NotFound(f"eval {eval_id} not found")
        return self._to_model(item)

    def list_for_set(self, eval_set_id: str, *, limit: int, cursor: str | None,
                     include_rejected: bool = False) -> tuple[list[EvalVersion], str | None]:
        """A page of a set's versions, newest first; rejected refinements only when asked."""
        keep = None if include_rejected else (lambda item: item.get("status") != "rejected")
        items, nxt = query_page(self._evals, limit=limit, cursor=cursor, owner=("eval_set_id", eval_set_id),
                                filter_fn=keep, KeyConditionExpression=Key("eval_set_id").eq(eval_set_id))
        versions = sorted((self._to_model(i) for i in items), key=lambda v: -v.version)
        return versions, nxt

    def all_for_set(self, eval_set_id: str, *, include_rejected: bool = False) -> list[EvalVersion]:
        """Every version of a set (rejected refinements only when asked), newest first."""
        out: list[EvalVersion] = []
        cursor = None
        while True:
            page, cursor = self.list_for_set(eval_set_id, limit=200, cursor=cursor, include_rejected=include_rejected)
            out += page
            if not cursor:
                return sorted(out, key=lambda v: -v.version)

    def update(self, version: EvalVersion, **fields: Any) -> EvalVersion:
        if "metrics" in fields:  # stamped here, once, so every writer of metrics records their age
            fields["metrics"] = {**fields["metrics"], "computed_at": now_iso()}
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":f{i}": to_dynamo(v) for i, v in enumerate(fields.values())}
        self._evals.update_item(Key={"eval_set_id": version.eval_set_id, "eval_id": version.id},
                                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        return version.model_copy(update=fields)

    def activate(self, workspace_id: str, target: EvalVersion, previous: list[EvalVersion]) -> None:
        """Make ``target`` the set's one active version and ``previous`` (the active ones) drafts, in one
        transaction guarded by ``active_eval_id`` on the set's record; 409 when anything changed meanwhile."""
        current_active = next((v.id for v in previous), None)
        guard: dict[str, Any] = {
            "TableName": self._eval_sets.name,
            "Key": {"workspace_id": workspace_id, "eval_set_id": target.eval_set_id},
            "UpdateExpression": "SET active_eval_id = :new",
            "ExpressionAttributeValues": {":new": target.id}}
        if current_active:
            guard["ConditionExpression"] = "attribute_exists(eval_set_id) AND (attribute_not_exists(active_eval_id) " \
                                           "OR active_eval_id = :old)"
            guard["ExpressionAttributeValues"][":old"] = current_active
        else:
            guard["ConditionExpression"] = "attribute_exists(eval_set_id) AND (attribute_not_exists(active_eval_id) " \
                                           "OR active_eval_id = :new)"
        items = [{"Update": guard}, self._status_update(workspace_id, target, "active")]
        items += [self._status_update(workspace_id, v, "draft") for v in previous]
        self._transact(items, f"eval {target.id} or its set changed concurrently; read them again")

    def archive(self, workspace_id: str, target: EvalVersion) -> None:
        """Archive a version that is not active (409 when its status changed meanwhile)."""
        self._transact([self._status_update(workspace_id, target, "archived")],
                       f"eval {target.id} changed concurrently; read it again")

    def _status_update(self, workspace_id: str, version: EvalVersion, status: str) -> dict:
        return {"Update": {
            "TableName": self._evals.name, "Key": {"eval_set_id": version.eval_set_id, "eval_id": version.id},
            "UpdateExpression": "SET #s = :s", "ConditionExpression": "workspace_id = :w AND #s = :was",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": status, ":w": workspace_id, ":was": version.status}}}

    def _transact(self, items: list[dict], conflict: str) -> None:
        # the table resource's client serializes plain values itself
        try:
            self._evals.meta.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise Conflict(conflict) from exc
            raise

    def delete_versions(self, eval_set_id: str, eval_ids: Iterable[str]) -> None:
        """Delete version records of a set; their results go after (``delete_results``, evalsets/cleanup.py)."""
        with self._evals.batch_writer() as batch:
            for eval_id in eval_ids:
                batch.delete_item(Key={"eval_set_id": eval_set_id, "eval_id": eval_id})

    def delete_results(self, eval_id: str, *, limit: int) -> int:
        """Delete at most ``limit`` of a version's results and trend counters; how many went."""
        deleted = delete_partition(self._executions, "eval_id", eval_id, "trace_id", limit=limit)
        return deleted + self.trends.delete_eval(eval_id, limit=limit - deleted)

    # --- executions ---

    def put_executions(self, results: Iterable[Execution]) -> None:
        """Store results; fields at their defaults (no reason, no output) are left out of the item: most
        results have none, and every read fills them back in (``Execution``'s defaults)."""
        with self._executions.batch_writer(overwrite_by_pkeys=["eval_id", "trace_id"]) as batch:
            for r in results:
                batch.put_item(Item=to_dynamo(r.model_dump(exclude_defaults=True)))

    def record_trend(self, eval_id: str, counts: dict[str, int], *, run: str) -> bool:
        """Add a run's counts (one chunk, from ``trends.count_results``; ``run`` names it, e.g. ``job/chunk``)
        to the version's hour and day counters that GET /v1/evals/{id}/trend reads; a retried chunk counts
        once (False then)."""
        from datetime import datetime, timezone

        return self.trends.add_run(eval_id, counts, at=datetime.now(timezone.utc), run=run)

    def executions(self, eval_id: str, *, limit: int, cursor: str | None) -> tuple[list[Execution], str | None]:
        items, nxt = query_page(self._executions, limit=limit, cursor=cursor, owner=("eval_id", eval_id),
                                KeyConditionExpression=Key("eval_id").eq(eval_id))
        return [Execution.model_validate(to_plain(i)) for i in items], nxt

    def execution(self, eval_id: str, trace_id: str) -> Execution:
        item = self._executions.get_item(Key={"eval_id": eval_id, "trace_id": trace_id}).get("Item")
        if not item:
            raise NotFound(f"no execution of eval {eval_id} on trace {trace_id}")
        return Execution.model_validate(to_plain(item))

    def executions_for(self, eval_id: str, trace_ids: list[str]) -> dict[str, Execution]:
        """Results by trace id for the given traces (BatchGetItem; missing ones left out)."""
        client = self._executions.meta.client
        out: dict[str, Execution] = {}
        unique = list(dict.fromkeys(trace_ids))
        for start in range(0, len(unique), 100):
            request = {self._executions.name: {"Keys": [{"eval_id": eval_id, "trace_id": t}
                                                        for t in unique[start:start + 100]]}}
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._executions.name, []):
                    out[item["trace_id"]] = Execution.model_validate(to_plain(item))
                request = response.get("UnprocessedKeys") or None
        return out

    def executed_trace_ids(self, eval_id: str) -> set[str]:
        ids: set[str] = set()
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("eval_id").eq(eval_id), "ProjectionExpression": "trace_id"}
        while True:
            page = self._executions.query(**kwargs)
            ids.update(i["trace_id"] for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def results_for(self, eval_ids: list[str], trace_ids: list[str]) -> dict[tuple[str, str], Execution]:
        """Results of several versions on several traces, by (eval_id, trace_id): BatchGetItem, 100 keys a call."""
        items = batch_get(self._executions, _result_keys(eval_ids, trace_ids))
        return {(i["eval_id"], i["trace_id"]): Execution.model_validate(to_plain(i)) for i in items}

    def result_cells(self, eval_ids: list[str], trace_ids: list[str]) -> dict[tuple[str, str], ResultCell]:
        """What the matrix shows of several versions' results on several traces, by (eval_id, trace_id):
        BatchGetItem projected to result, reason and duration (the cost grows with the attributes read)."""
        items = batch_get(self._executions, _result_keys(eval_ids, trace_ids),
                          projection="eval_id, trace_id, #r, reason, duration_ms", names={"#r": "result"})
        return {(i["eval_id"], i["trace_id"]): ResultCell(i["result"], i.get("reason", ""), int(i.get("duration_ms", 0)))
                for i in items}

    def result_kinds(self, eval_id: str, trace_ids: Iterable[str]) -> dict[str, str]:
        """trace id -> result of a version on the given traces (rated ones: bounded by the set's ratings,
        never by the version's executions): BatchGetItem projected to the result; unrun traces are left out."""
        items = batch_get(self._executions, _result_keys([eval_id], list(trace_ids)),
                          projection="trace_id, #r", names={"#r": "result"})
        return {i["trace_id"]: i["result"] for i in items}

    @staticmethod
    def _to_model(item: dict) -> EvalVersion:
        plain = to_plain(item)
        plain["id"] = plain.pop("eval_id")
        return EvalVersion.model_validate({k: v for k, v in plain.items() if k in EvalVersion.model_fields})


def _result_keys(eval_ids: list[str], trace_ids: list[str]) -> list[dict]:
    return [{"eval_id": e, "trace_id": t} for t in dict.fromkeys(trace_ids) for e in dict.fromkeys(eval_ids)]
