"""Integrations in DynamoDB; the credentials envelope is stored beside, never returned."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, NotFound
from chalicelib.integrations.models import Integration
from chalicelib.storage import delete_existing, is_conditional_failure, query_page, to_dynamo, to_plain

_ENVELOPE = ("encrypted_key", "nonce", "ciphertext")


class IntegrationRepository:
    def __init__(self, table: Any):
        self._table = table

    def add(self, workspace_id: str, integration: Integration, envelope: dict[str, bytes]) -> None:
        """Store a new integration; 409 when the name is taken in the workspace."""
        if any(i["name"] == integration.name for i in self._all(workspace_id)):
            raise Conflict(f"an integration named {integration.name!r} already exists")
        item = {"workspace_id": workspace_id, "integration_id": integration.id,
                **integration.model_dump(exclude={"id"}), **envelope}
        self._table.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(integration_id)")

    def get(self, workspace_id: str, integration_id: str) -> Integration:
        return self._to_model(self._item(workspace_id, integration_id))

    def get_envelope(self, workspace_id: str, integration_id: str) -> dict[str, bytes]:
        item = self._item(workspace_id, integration_id)
        return {k: bytes(item[k].value if hasattr(item[k], "value") else item[k]) for k in _ENVELOPE}

    def list(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[Integration], str | None]:
        items, nxt = query_page(self._table, limit=limit, cursor=cursor, owner=("workspace_id", workspace_id),
                                KeyConditionExpression=Key("workspace_id").eq(workspace_id))
        return [self._to_model(i) for i in items], nxt

    def delete(self, workspace_id: str, integration_id: str) -> None:
        delete_existing(self._table, {"workspace_id": workspace_id, "integration_id": integration_id},
                        missing=f"integration {integration_id} not found")

    def update_status(self, workspace_id: str, integration_id: str, **fields: Any) -> None:
        """Set status fields (status, status_detail, last_sync_at, last_checked_at) if it still exists."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":f{i}": to_dynamo(v) for i, v in enumerate(fields.values())}
        try:
            self._table.update_item(
                Key={"workspace_id": workspace_id, "integration_id": integration_id},
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression="attribute_exists(integration_id)",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def remove_field(self, workspace_id: str, integration_id: str, field: str) -> None:
        """Remove one attribute (e.g. the schedule); 404 when the integration is gone."""
        try:
            self._table.update_item(Key={"workspace_id": workspace_id, "integration_id": integration_id},
                                    UpdateExpression="REMOVE #f", ConditionExpression="attribute_exists(integration_id)",
                                    ExpressionAttributeNames={"#f": field})
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFound(f"integration {integration_id} not found") from exc
            raise

    def scheduled(self) -> list[tuple[str, Integration]]:
        """(workspace_id, integration) for every integration with a schedule: the local
        scheduler's view (on AWS, EventBridge Scheduler fires them instead)."""
        out: list[tuple[str, Integration]] = []
        kwargs: dict[str, Any] = {"FilterExpression": "attribute_exists(#s)", "ExpressionAttributeNames": {"#s": "schedule"}}
        while True:
            page = self._table.scan(**kwargs)
            out += [(item["workspace_id"], self._to_model(item)) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _all(self, workspace_id: str) -> list[dict]:
        return self._table.query(KeyConditionExpression=Key("workspace_id").eq(workspace_id),
                                 ProjectionExpression="#n", ExpressionAttributeNames={"#n": "name"})["Items"]

    def _item(self, workspace_id: str, integration_id: str) -> dict:
        item = self._table.get_item(Key={"workspace_id": workspace_id, "integration_id": integration_id}).get("Item")
        if not item:
            raise NotFound(f"integration {integration_id} not found")
        return item

    @staticmethod
    def _to_model(item: dict) -> Integration:
        plain = {k: v for k, v in item.items() if k not in _ENVELOPE}
        plain = to_plain(plain)
        plain["id"] = plain.pop("integration_id")
        return Integration.model_validate({k: v for k, v in plain.items() if k in Integration.model_fields})
