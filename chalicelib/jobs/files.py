"""Job working files in S3: what one state passes to the next when it is too big for the
state's 256 KB payload (examples, candidates, chunks of trace ids)."""

from __future__ import annotations

import json
from typing import Any


class JobFiles:
    def __init__(self, bucket: Any):
        self._bucket = bucket

    @staticmethod
    def _key(workspace_id: str, job_id: str, name: str) -> str:
        return f"jobs/{workspace_id}/{job_id}/{name}.json"

    def put(self, workspace_id: str, job_id: str, name: str, doc: Any) -> None:
        self._bucket.put_object(Key=self._key(workspace_id, job_id, name), Body=json.dumps(doc).encode(),
                                ContentType="application/json")

    def get(self, workspace_id: str, job_id: str, name: str) -> Any:
        return json.loads(self._bucket.Object(self._key(workspace_id, job_id, name)).get()["Body"].read())

    def location(self, workspace_id: str, job_id: str, name: str) -> dict[str, str]:
        """Where a file is, as a state machine names an S3 object (an ItemReader's Bucket and Key)."""
        return {"Bucket": self._bucket.name, "Key": self._key(workspace_id, job_id, name)}

    def folder(self, workspace_id: str, job_id: str, name: str) -> dict[str, str]:
        """A folder of the job's files, as a ResultWriter names where it writes (Bucket and Prefix)."""
        return {"Bucket": self._bucket.name, "Prefix": f"jobs/{workspace_id}/{job_id}/{name}"}

    def read(self, workspace_id: str, job_id: str, key: str) -> Any:
        """A JSON object written under the job's files by someone else (a ResultWriter), by its full key;
        ValueError for a key outside them."""
        if not key.startswith(f"jobs/{workspace_id}/{job_id}/"):
            raise ValueError(f"{key} is not one of job {job_id}'s files")
        return json.loads(self._bucket.Object(key).get()["Body"].read())

    def names(self, workspace_id: str, job_id: str, prefix: str, *, after: str | None = None,
              limit: int = 1000) -> list[str]:
        """Names of the job's files starting with ``prefix``, in order, after ``after`` (one listing call)."""
        folder = self._key(workspace_id, job_id, "")[: -len(".json")]
        params: dict[str, Any] = {"Prefix": folder + prefix, "MaxKeys": limit}
        if after:
            params["StartAfter"] = self._key(workspace_id, job_id, after)
        listing = self._bucket.meta.client.list_objects_v2(Bucket=self._bucket.name, **params)
        return [o["Key"][len(folder):-len(".json")] for o in listing.get("Contents", [])]
