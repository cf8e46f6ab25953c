"""What goes after ``DELETE /v1/eval-sets/{id}``: a set's ratings, results and trend counters.

The request (evalsets/service.py delete_eval_set) deletes only what is small and what makes the set
reachable, in this order:

1. a marker naming the set's versions, ``deleted_sets/<workspace>/<set id>.json`` in the data bucket;
2. the set and its name (one transaction): every set route answers 404 from here on;
3. the version records: every route of a version (results, trend, export) answers 404.

So nothing of the set shows anywhere once the request returns, however much stays behind. The
``evalset_cleanup`` function (every minute, like OTLP assembly) then deletes, per run, at most
``budget`` items of the marked sets' ratings, results and counters, and removes a marker once a
run finds nothing left after the settle time (a run started before the delete may write results
until its state machine's time limit). Deleting is idempotent: a run that stops halfway is
continued by the next. A marker whose set still exists after the settle time is one whose delete
failed after step 1, and is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from chalicelib.errors import NotFound
from chalicelib.storage import is_missing_object

PREFIX = "deleted_sets/"  # the keys: _key
SETTLE = timedelta(seconds=3600 + 300)  # the execute_eval state machine's time limit (infra/resources.py) + margin


@dataclass(frozen=True)
class DeletedSet:
    workspace_id: str
    eval_set_id: str
    eval_ids: tuple[str, ...]
    deleted_at: datetime  # the marker's LastModified


class DeletedSets:
    """The markers of deleted sets whose contents are still being removed."""

    def __init__(self, bucket: Any):
        self._bucket = bucket

    def mark(self, workspace_id: str, eval_set_id: str, eval_ids: Iterable[str]) -> None:
        self._bucket.put_object(Key=self._key(workspace_id, eval_set_id), ContentType="application/json",
                                Body=json.dumps({"eval_ids": list(eval_ids)}).encode())

    def pending(self, limit: int) -> Iterator[DeletedSet]:
        """Marked sets, oldest key first: at most ``limit`` markers listed and read."""
        for summary in self._bucket.objects.filter(Prefix=PREFIX).page_size(min(limit, 1000)).limit(limit):
            workspace_id, name = summary.key[len(PREFIX):].split("/", 1)
            try:
                doc = json.loads(summary.get()["Body"].read())
            except ClientError as exc:
                if is_missing_object(exc):
                    continue
                raise
            yield DeletedSet(workspace_id, name.removesuffix(".json"), tuple(doc.get("eval_ids") or ()),
                             summary.last_modified)

    def clear(self, deleted: DeletedSet) -> None:
        self._bucket.Object(self._key(deleted.workspace_id, deleted.eval_set_id)).delete()

    @staticmethod
    def _key(workspace_id: str, eval_set_id: str) -> str:
        return f"deleted_sets/{workspace_id}/{eval_set_id}.json"


class SetRecords(Protocol):
    def get(self, workspace_id: str, eval_set_id: str) -> Any: ...

    def delete_feedback_of(self, eval_set_id: str, *, limit: int) -> int: ...


class SetVersions(Protocol):
    def all_for_set(self, eval_set_id: str, *, include_rejected: bool = False) -> list[Any]: ...

    def delete_versions(self, eval_set_id: str, eval_ids: Iterable[str]) -> None: ...

    def delete_results(self, eval_id: str, *, limit: int) -> int: ...


class CleanupOutput(BaseModel):
    deleted: int = Field(default=0, description="ratings, results and trend counters deleted in this run")
    finished: list[str] = Field(default_factory=list, description="sets whose marker was removed")
    pending: int = Field(default=0, description="marked sets with items left (or within the settle time)")


def clean_deleted_sets(now: datetime, *, markers: DeletedSets, eval_sets: SetRecords, evals: SetVersions,
                       budget: int = 10_000, settle: timedelta = SETTLE, read: int = 100) -> CleanupOutput:
    """Delete at most ``budget`` items of the sets marked deleted (reading at most ``read`` markers)."""
    out = CleanupOutput()
    for deleted in markers.pending(limit=read):
        settled = now - deleted.deleted_at >= settle
        try:
            eval_sets.get(deleted.workspace_id, deleted.eval_set_id)
        except NotFound:
            pass
        else:  # the set is still there: its delete has not happened yet, or failed
            if settled:
                markers.clear(deleted)
            else:
                out.pending += 1
            continue
        # versions added while the request ran are still listed under the set: their results go too
        left = [v.id for v in evals.all_for_set(deleted.eval_set_id, include_rejected=True)]
        evals.delete_versions(deleted.eval_set_id, left)
        before = out.deleted
        for eval_id in dict.fromkeys([*deleted.eval_ids, *left]):
            out.deleted += evals.delete_results(eval_id, limit=budget - out.deleted)
        out.deleted += eval_sets.delete_feedback_of(deleted.eval_set_id, limit=budget - out.deleted)
        if out.deleted >= budget:
            out.pending += 1
            break
        if out.deleted == before and settled:
            markers.clear(deleted)
            out.finished.append(deleted.eval_set_id)
        else:
            out.pending += 1
    return out

