"""Workspaces and hashed API keys in DynamoDB."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.auth.models import ApiKey, Workspace
from chalicelib.errors import Conflict, NotFound
from chalicelib.storage import is_conditional_failure, serialize


class AuthRepository:
    """Workspaces table + api_keys table (hash key: sha256 of the key). The workspace item counts
    its owner keys (``owner_keys``); adding or deleting an owner key changes the count in the same
    transaction, and a delete is conditional on another owner key remaining, so two concurrent
    revocations cannot leave a workspace without an owner."""

    def __init__(self, workspaces: Any, keys: Any, client: Any):
        self._workspaces = workspaces
        self._keys = keys
        self._client = client

    def add_workspace(self, workspace: Workspace, key_hash: str, key: ApiKey) -> None:
        """Create the workspace and its first key in one transaction."""
        self._client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self._workspaces.name, "Item": serialize(
                {"workspace_id": workspace.id, "name": workspace.name, "created_at": workspace.created_at,
                 "owner_keys": 1}),
                "ConditionExpression": "attribute_not_exists(workspace_id)"}},
            {"Put": {"TableName": self._keys.name, "Item": serialize(self._key_item(workspace.id, key_hash, key)),
                     "ConditionExpression": "attribute_not_exists(key_hash)"}},
        ])

    def get_workspace(self, workspace_id: str) -> Workspace:
        item = self._workspaces.get_item(Key={"workspace_id": workspace_id}).get("Item")
        if not item:
            raise NotFound(f"workspace {workspace_id} not found")
        return self._to_workspace(item)

    def any_workspace(self) -> Workspace | None:
        """Some workspace of the deployment, or None when there is none yet (a one-item scan)."""
        items = self._workspaces.scan(Limit=1).get("Items", [])
        if not items:
            return None
        item = items[0]
        return self._to_workspace(item)

    def add_key(self, workspace_id: str, key_hash: str, key: ApiKey) -> None:
        put = {"TableName": self._keys.name, "Item": serialize(self._key_item(workspace_id, key_hash, key)),
               "ConditionExpression": "attribute_not_exists(key_hash)"}
        self._write_key(workspace_id, key, {"Put": put}, count="ADD owner_keys :one",
                        count_condition="attribute_exists(workspace_id)")

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

    def find_key_by_id(self, workspace_id: str, key_id: str) -> tuple[str, ApiKey]:
        """(key hash, key) of one of the workspace's keys; 404 for a key of another workspace."""
        found = self._keys.query(IndexName="by_key_id", KeyConditionExpression=Key("key_id").eq(key_id))["Items"]
        item = next((i for i in found if i["workspace_id"] == workspace_id), None)
        if item is None:
            raise NotFound(f"api key {key_id} not found")
        return item["key_hash"], self._to_key(item)

    def delete_key(self, workspace_id: str, key_hash: str, key: ApiKey) -> None:
        """Delete a key; an owner key only while another owner key remains (409 otherwise)."""
        delete = {"TableName": self._keys.name, "Key": serialize({"key_hash": key_hash}),
                  "ConditionExpression": "workspace_id = :w",
                  "ExpressionAttributeValues": serialize({":w": workspace_id})}
        try:
            self._write_key(workspace_id, key, {"Delete": delete}, count="SET owner_keys = owner_keys - :one",
                            count_condition="owner_keys > :one")
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) == 2 and reasons[0] != "ConditionalCheckFailed" and reasons[1] == "ConditionalCheckFailed":
                raise Conflict("this is the workspace's last owner key: create another owner key before deleting it",
                               [{"key_id": key.id, "reason": "last_owner_key"}]) from exc
            raise NotFound(f"api key {key.id} not found") from exc

    def _write_key(self, workspace_id: str, key: ApiKey, write: dict, *, count: str, count_condition: str) -> None:
        """One Put/Delete of a key; for an owner key, in one transaction with ``count`` (an update of the
        workspace's owner_keys, conditional on ``count_condition``)."""
        if key.role != "owner":
            [(kind, params)] = write.items()
            (self._client.put_item if kind == "Put" else self._client.delete_item)(**params)
            return
        self._count_owners_once(workspace_id)
        self._client.transact_write_items(TransactItems=[write, {"Update": {
            "TableName": self._workspaces.name, "Key": serialize({"workspace_id": workspace_id}),
            "UpdateExpression": count, "ConditionExpression": count_condition,
            "ExpressionAttributeValues": serialize({":one": 1})}}])

    def _count_owners_once(self, workspace_id: str) -> None:
        """Set ``owner_keys`` on a workspace created before the count existed (a no-op afterwards)."""
        item = self._workspaces.get_item(Key={"workspace_id": workspace_id}, ProjectionExpression="owner_keys").get("Item")
        if item is not None and "owner_keys" in item:
            return
        owners = sum(1 for k in self.list_keys(workspace_id) if k.role == "owner")
        try:
            self._workspaces.update_item(
                Key={"workspace_id": workspace_id}, UpdateExpression="SET owner_keys = :n",
                ConditionExpression="attribute_exists(workspace_id) AND attribute_not_exists(owner_keys)",
                ExpressionAttributeValues={":n": owners})
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    @staticmethod
    def _key_item(workspace_id: str, key_hash: str, key: ApiKey) -> dict:
        return {"key_hash": key_hash, "key_id": key.id, "workspace_id": workspace_id, "role": key.role,
                "label": key.label, "created_at": key.created_at}

    @staticmethod
    def _to_workspace(item: dict) -> Workspace:
        return Workspace(id=item["workspace_id"], name=item["name"], created_at=item["created_at"])

    @staticmethod
    def _to_key(item: dict) -> ApiKey:
        return ApiKey(id=item["key_id"], label=item.get("label", ""), role=item["role"],
                      created_at=item["created_at"], last_used_at=item.get("last_used_at"))
