"""Workspaces and hashed API keys in DynamoDB."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.auth.models import ApiKey, Workspace
from chalicelib.errors import NotFound
from chalicelib.storage import is_conditional_failure, serialize


class AuthRepository:
    """Workspaces table + api_keys table (hash key: sha256 of the key)."""

    def __init__(self, workspaces: Any, keys: Any, client: Any):
        self._workspaces = workspaces
        self._keys = keys
        self._client = client

    def add_workspace(self, workspace: Workspace, key_hash: str, key: ApiKey) -> None:
        """Create the workspace and its first key in one transaction."""
        self._client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self._workspaces.name, "Item": serialize(
                {"workspace_id": workspace.id, "name": workspace.name, "created_at": workspace.created_at}),
                "ConditionExpression": "attribute_not_exists(workspace_id)"}},
            {"Put": {"TableName": self._keys.name, "Item": serialize(self._key_item(workspace.id, key_hash, key)),
                     "ConditionExpression": "attribute_not_exists(key_hash)"}},
        ])

    def get_workspace(self, workspace_id: str) -> Workspace:
        item = self._workspaces.get_item(Key={"workspace_id": workspace_id}).get("Item")
        if not item:
            raise NotFound(f"workspace {workspace_id} not found")
        return Workspace(id=item["workspace_id"], name=item["name"], created_at=item["created_at"])

    def any_workspace(self) -> Workspace | None:
        """Some workspace of the deployment, or None when there is none yet (a one-item scan)."""
        items = self._workspaces.scan(Limit=1).get("Items", [])
        if not items:
            return None
        item = items[0]
        return Workspace(id=item["workspace_id"], name=item["name"], created_at=item["created_at"])

    def add_key(self, workspace_id: str, key_hash: str, key: ApiKey) -> None:
        self._keys.put_item(Item=self._key_item(workspace_id, key_hash, key),
                            ConditionExpression="attribute_not_exists(key_hash)")

    def find_key(self, key_hash: str) -> tuple[str, ApiKey] | None:
        """(workspace_id, key) for a key hash, or None."""
        item = self._keys.get_item(Key={"key_hash": key_hash}).get("Item")
        if not item:
            return None
        return item["workspace_id"], self._to_key(item)

    def touch_key(self, key_hash: str, *, used_at: str, older_than: str) -> None:
        """Record a use of the key, unless another request already did since ``older_than``."""
        try:
            self._keys.update_item(
                Key={"key_hash": key_hash}, UpdateExpression="SET last_used_at = :now",
                ConditionExpression="attribute_exists(key_hash) AND "
                                    "(attribute_not_exists(last_used_at) OR last_used_at < :cutoff)",
                ExpressionAttributeValues={":now": used_at, ":cutoff": older_than})
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    def list_keys(self, workspace_id: str) -> list[ApiKey]:
        items = self._keys.query(IndexName="by_workspace", KeyConditionExpression=Key("workspace_id").eq(workspace_id))
        return [self._to_key(i) for i in items["Items"]]

    def delete_key(self, workspace_id: str, key_id: str) -> None:
        found = self._keys.query(IndexName="by_key_id", KeyConditionExpression=Key("key_id").eq(key_id))["Items"]
        item = next((i for i in found if i["workspace_id"] == workspace_id), None)
        if item is None:
            raise NotFound(f"api key {key_id} not found")
        try:
            self._keys.delete_item(Key={"key_hash": item["key_hash"]},
                                   ConditionExpression="workspace_id = :w", ExpressionAttributeValues={":w": workspace_id})
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise NotFound(f"api key {key_id} not found") from exc
            raise

    @staticmethod
    def _key_item(workspace_id: str, key_hash: str, key: ApiKey) -> dict:
        return {"key_hash": key_hash, "key_id": key.id, "workspace_id": workspace_id, "role": key.role,
                "label": key.label, "created_at": key.created_at}

    @staticmethod
    def _to_key(item: dict) -> ApiKey:
        return ApiKey(id=item["key_id"], label=item.get("label", ""), role=item["role"],
                      created_at=item["created_at"], last_used_at=item.get("last_used_at"))
