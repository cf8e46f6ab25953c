"""Eval sets and feedback in DynamoDB.

eval_sets (workspace_id, eval_set_id) holds each set (``es_…``) and, beside it, one name
reservation per set (``name#<casefolded name>``) written in the same transaction, so two
sets of a workspace can never share a name even under concurrent requests.
feedback (eval_set_id, trace_id) holds one item per rated trace with its history and a
``version`` for optimistic concurrency; GSI by_time (eval_set_id, rated_at_key) lists it
newest first. Rating counts are derived from a Query on the set's feedback, so they are
exact whatever writes race.
"""

from __future__ import annotations

from typing import Any, Iterator

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, NotFound
from chalicelib.evalsets.models import EvalSet, Feedback, RatedTrace, RatingRow
from chalicelib.storage import (delete_existing, delete_partition, is_conditional_failure, query_page, serialize,
                                to_dynamo, to_plain)

SET_PREFIX = "es_"
NAME_PREFIX = "name#"
_SET_FIELDS = ("name", "description", "criteria", "thresholds", "scope", "created_at", "updated_at", "created_by",
               "ratings_changed_at")


class StaleFeedback(Exception):
    """The feedback item changed since it was read (another writer won); read again and retry."""


class EvalSetRepository:
    def __init__(self, eval_sets: Any, feedback: Any, client: Any):
        self._sets = eval_sets
        self._feedback = feedback
        self._client = client

    # --- eval sets ------------------------------------------------------------------

    def add(self, record: EvalSet) -> None:
        """Store a new eval set; 409 when its name is taken in the workspace."""
        item = {"workspace_id": record.workspace_id, "eval_set_id": record.id,
                **record.model_dump(mode="json", include=set(_SET_FIELDS))}
        try:
            self._client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._sets.name, "Item": serialize(item),
                         "ConditionExpression": "attribute_not_exists(eval_set_id)"}},
                {"Put": {"TableName": self._sets.name, "Item": serialize(self._name_item(record.workspace_id,
                                                                                        record.name, record.id)),
                         "ConditionExpression": "attribute_not_exists(eval_set_id)"}},
            ])
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise Conflict(f"an eval set named {record.name!r} already exists") from exc
            raise

    def get(self, workspace_id: str, eval_set_id: str) -> EvalSet:
        """The eval set; 404 when it is not in this workspace."""
        if not eval_set_id.startswith(SET_PREFIX) or len(eval_set_id) > 128:
            raise NotFound(f"eval set {eval_set_id} not found")
        item = self._sets.get_item(Key=self._set_key(workspace_id, eval_set_id), ConsistentRead=True).get("Item")
        if not item:
            raise NotFound(f"eval set {eval_set_id} not found")
        return self._to_set(item)

    def list(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[EvalSet], str | None]:
        """The workspace's eval sets, by id."""
        cond = Key("workspace_id").eq(workspace_id) & Key("eval_set_id").begins_with(SET_PREFIX)
        items, nxt = query_page(self._sets, limit=limit, cursor=cursor, owner=("workspace_id", workspace_id),
                                KeyConditionExpression=cond)
        return [self._to_set(i) for i in items], nxt

    def update(self, current: EvalSet, changes: dict[str, Any]) -> None:
        """Set ``changes`` on the set read as ``current``; 404 when gone, 409 on a taken name or a racing rename."""
        names = {"#n": "name"}
        values: dict[str, Any] = {":old": current.name}
        sets = []
        for i, (field, value) in enumerate(changes.items()):
            names[f"#f{i}"] = field
            values[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
        update = {"TableName": self._sets.name, "Key": serialize(self._set_key(current.workspace_id, current.id)),
                  "UpdateExpression": "SET " + ", ".join(sets),
                  "ConditionExpression": "attribute_exists(eval_set_id) AND #n = :old",
                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": serialize(values)}
        items: list[dict] = [{"Update": update}]
        new_name = changes.get("name", current.name)
        if _fold(new_name) != _fold(current.name):
            items.append({"Delete": {"TableName": self._sets.name,
                                     "Key": serialize(self._name_key(current.workspace_id, current.name))}})
            items.append({"Put": {"TableName": self._sets.name,
                                  "Item": serialize(self._name_item(current.workspace_id, new_name, current.id)),
                                  "ConditionExpression": "attribute_not_exists(eval_set_id)"}})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            failed = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if failed and failed[0] == "ConditionalCheckFailed":
                self.get(current.workspace_id, current.id)  # 404 when deleted meanwhile
                raise Conflict(f"eval set {current.id} was changed concurrently; read it again") from exc
            raise Conflict(f"an eval set named {new_name!r} already exists") from exc

    def delete(self, workspace_id: str, eval_set_id: str) -> None:
        """Delete the set and its name (its feedback goes after: ``delete_feedback_of``); 404 when it is gone."""
        current = self.get(workspace_id, eval_set_id)
        try:
            self._client.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self._sets.name, "Key": serialize(self._set_key(workspace_id, eval_set_id)),
                            "ConditionExpression": "attribute_exists(eval_set_id)"}},
                {"Delete": {"TableName": self._sets.name, "Key": serialize(self._name_key(workspace_id, current.name)),
                            "ConditionExpression": "attribute_not_exists(owner_id) OR owner_id = :id",
                            "ExpressionAttributeValues": serialize({":id": eval_set_id})}},
            ])
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFound(f"eval set {eval_set_id} not found") from exc
            raise

    def delete_feedback_of(self, eval_set_id: str, *, limit: int) -> int:
        """Delete at most ``limit`` ratings of a (deleted) set; how many went."""
        return delete_partition(self._feedback, "eval_set_id", eval_set_id, "trace_id", limit=limit)

    # --- feedback -------------------------------------------------------------------

    def mark_ratings_changed(self, workspace_id: str, eval_set_id: str, at: str) -> None:
        """Record that the set's ratings changed (stored eval metrics older than this are stale)."""
        self._sets.update_item(Key=self._set_key(workspace_id, eval_set_id),
                               UpdateExpression="SET ratings_changed_at = :at",
                               ConditionExpression="attribute_exists(eval_set_id)",
                               ExpressionAttributeValues={":at": at})

    def get_feedback(self, eval_set_id: str, trace_id: str) -> Feedback | None:
        """The feedback on one trace of a set (the set already proven the caller's), or None."""
        item = self._feedback.get_item(Key={"eval_set_id": eval_set_id, "trace_id": trace_id},
                                       ConsistentRead=True).get("Item")
        return self._to_feedback(item) if item else None

    def put_feedback(self, eval_set_id: str, workspace_id: str, feedback: Feedback, *,
                     expected_version: int | None) -> None:
        """Write feedback if the stored version is still ``expected_version`` (None: not rated yet)."""
        item = {"eval_set_id": eval_set_id, "workspace_id": workspace_id,
                "rated_at_key": f"{feedback.updated_at}#{feedback.trace_id}",
                **feedback.model_dump(mode="json", by_alias=True)}
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(trace_id)"}
        else:
            condition = {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": expected_version}}
        try:
            self._feedback.put_item(Item=to_dynamo(item), **condition)
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise StaleFeedback(feedback.trace_id) from exc
            raise

    def delete_feedback(self, eval_set_id: str, trace_id: str) -> None:
        """Remove the rating of one trace; 404 when it is not rated."""
        delete_existing(self._feedback, {"eval_set_id": eval_set_id, "trace_id": trace_id},
                        missing=f"trace {trace_id} has no feedback in eval set {eval_set_id}")

    def list_feedback(self, eval_set_id: str, *, limit: int, cursor: str | None) -> tuple[list[Feedback], str | None]:
        """The set's feedback, most recently changed first."""
        items, nxt = self._newest_first(eval_set_id, limit=limit, cursor=cursor)
        return [self._to_feedback(i) for i in items], nxt

    def rated_page(self, eval_set_id: str, *, limit: int, cursor: str | None) -> tuple[list[RatedTrace], str | None]:
        """The set's ratings in list_feedback's order, only what a matrix row shows (no history)."""
        items, nxt = self._newest_first(eval_set_id, limit=limit, cursor=cursor,
                                        ProjectionExpression="eval_set_id, trace_id, rated_at_key, rating, notes")
        return [RatedTrace(trace_id=i["trace_id"], rating=i["rating"], notes=i.get("notes", "")) for i in items], nxt

    def _newest_first(self, eval_set_id: str, *, limit: int, cursor: str | None, **params: Any) -> tuple[list[dict], str | None]:
        return query_page(self._feedback, limit=limit, cursor=cursor, owner=("eval_set_id", eval_set_id),
                          IndexName="by_time", KeyConditionExpression=Key("eval_set_id").eq(eval_set_id),
                          ScanIndexForward=False, **params)

    def rating_rows(self, eval_set_id: str) -> list[RatingRow]:
        """Every rating of the set (trace, rating, changes): a consistent Query, so counts are exact."""
        return [RatingRow(trace_id=i["trace_id"], rating=i["rating"], changes=int(i.get("changes", 0)))
                for page in self._feedback_pages(eval_set_id, projection="trace_id, rating, changes")
                for i in page]

    def _feedback_pages(self, eval_set_id: str, *, projection: str) -> Iterator[list[dict]]:
        params: dict[str, Any] = {"KeyConditionExpression": Key("eval_set_id").eq(eval_set_id),
                                  "ProjectionExpression": projection, "ConsistentRead": True}
        while True:
            page = self._feedback.query(**params)
            yield page["Items"]
            if not page.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- items ----------------------------------------------------------------------

    @staticmethod
    def _set_key(workspace_id: str, eval_set_id: str) -> dict:
        return {"workspace_id": workspace_id, "eval_set_id": eval_set_id}

    @staticmethod
    def _name_key(workspace_id: str, name: str) -> dict:
        return {"workspace_id": workspace_id, "eval_set_id": NAME_PREFIX + _fold(name)}

    def _name_item(self, workspace_id: str, name: str, eval_set_id: str) -> dict:
        return {**self._name_key(workspace_id, name), "owner_id": eval_set_id}

    @staticmethod
    def _to_set(item: dict) -> EvalSet:
        plain = to_plain(item)
        return EvalSet(id=plain["eval_set_id"], workspace_id=plain["workspace_id"],
                       active_eval_id=plain.get("active_eval_id"),  # written only by activation (evals/repository.py)
                       **{k: plain[k] for k in _SET_FIELDS if k in plain})

    @staticmethod
    def _to_feedback(item: dict) -> Feedback:
        plain = to_plain(item)
        return Feedback.model_validate({k: v for k, v in plain.items() if k in Feedback.model_fields})


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()
