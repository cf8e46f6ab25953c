import pytest


def test_health_is_open(anon):
    assert anon.ok("GET", "/v1/health")["status"] == "ok"


def test_routes_need_a_key(anon):
    response = anon.get("/v1/traces")
    assert response.status_code == 401
    assert response.json_body["error"]["code"] == "UNAUTHENTICATED"
    assert response.json_body["error"]["request_id"]
    assert anon.with_key("iof_nope").get("/v1/traces").status_code == 401


def test_keys_are_shown_once_and_roles_are_enforced(api):
    viewer = api.ok("POST", "/v1/api-keys", {"label": "ro", "role": "viewer"}, status=201)
    assert viewer["key"].startswith("iof_")
    listed = api.ok("GET", "/v1/api-keys")["items"]
    assert all("key" not in k for k in listed) and viewer["id"] in {k["id"] for k in listed}
    as_viewer = api.with_key(viewer["key"])
    assert as_viewer.ok("GET", "/v1/workspace")["role"] == "viewer"
    assert as_viewer.get("/v1/traces").status_code == 200
    denied = as_viewer.post("/v1/traces/upload?format=unified", raw="{}", headers={"Content-Type": "application/x-ndjson"})
    assert denied.status_code == 403 and denied.json_body["error"]["code"] == "FORBIDDEN"
    assert as_viewer.post("/v1/api-keys", {"role": "viewer"}).status_code == 403


def test_an_admin_cannot_mint_an_owner_key(api):
    admin = api.with_key(api.ok("POST", "/v1/api-keys", {"label": "a", "role": "admin"}, status=201)["key"])
    assert admin.post("/v1/api-keys", {"label": "x", "role": "owner"}).status_code == 403


def test_deleted_key_stops_working(api):
    member = api.ok("POST", "/v1/api-keys", {"label": "m", "role": "member"}, status=201)
    assert api.with_key(member["key"]).get("/v1/workspace").status_code == 200
    assert api.delete(f"/v1/api-keys/{member['id']}").status_code == 204
    assert api.with_key(member["key"]).get("/v1/workspace").status_code == 401
    assert api.delete(f"/v1/api-keys/{member['id']}").status_code == 404


def test_keys_are_stored_hashed(api):
    from chalicelib.clients import dynamodb_table

    items = dynamodb_table("api_keys").scan()["Items"]
    assert items and not any(api.key in str(item) for item in items)


def test_credentials_are_never_returned_and_stored_encrypted(api):
    body = {"platform": "langfuse", "name": "lf", "base_url": "http://127.0.0.1:9",
            "credentials": {"public_key": "pk-lf-visible", "secret_key": "sk-lf-SECRET-123"}}
    created = api.ok("POST", "/v1/integrations", body, status=201)
    for payload in (created, api.ok("GET", f"/v1/integrations/{created['id']}"), api.ok("GET", "/v1/integrations")):
        assert "sk-lf-SECRET-123" not in str(payload) and "credentials" not in str(payload)
    from chalicelib.clients import dynamodb_table

    item = dynamodb_table("integrations").get_item(
        Key={"workspace_id": api.workspace_id, "integration_id": created["id"]})["Item"]
    assert b"sk-lf-SECRET-123" not in bytes(item["ciphertext"].value)


def test_credentials_do_not_decrypt_under_another_integration(api):
    import pytest
    from botocore.exceptions import ClientError
    from cryptography.exceptions import InvalidTag

    from chalicelib import wiring
    from chalicelib.integrations import crypto

    kr = wiring.keyring()
    env = crypto.encrypt_credentials({"secret_key": "s"}, workspace_id="ws_a", integration_id="int_a",
                                     kms=kr.kms, key_id=kr.key_id)
    assert crypto.decrypt_credentials(env, workspace_id="ws_a", integration_id="int_a", kms=kr.kms) == {"secret_key": "s"}
    # KMS refuses the data key under another encryption context …
    with pytest.raises(ClientError) as info:
        crypto.decrypt_credentials(env, workspace_id="ws_b", integration_id="int_a", kms=kr.kms)
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"

    # … and even with the data key in hand, the GCM tag binds the ciphertext to its integration
    class KeyInHand:
        def decrypt(self, **kwargs):
            return kr.kms.decrypt(CiphertextBlob=kwargs["CiphertextBlob"],
                                  EncryptionContext={"workspace_id": "ws_a", "integration_id": "int_a"})

    with pytest.raises(InvalidTag):
        crypto.decrypt_credentials(env, workspace_id="ws_a", integration_id="int_b", kms=KeyInHand())


def test_a_key_records_when_it_was_last_used_at_most_every_five_minutes(api):
    from datetime import datetime, timedelta, timezone

    from chalicelib.clients import dynamodb_table
    from chalicelib.timeutil import format_iso

    created = api.ok("POST", "/v1/api-keys", {"label": "ci", "role": "viewer"}, status=201)
    listed = {k["id"]: k for k in api.ok("GET", "/v1/api-keys")["items"]}
    assert listed[created["id"]]["last_used_at"] is None

    api.with_key(created["key"]).ok("GET", "/v1/workspace")
    first = {k["id"]: k for k in api.ok("GET", "/v1/api-keys")["items"]}[created["id"]]["last_used_at"]
    assert first is not None and abs(datetime.fromisoformat(first.replace("Z", "+00:00"))
                                     - datetime.now(timezone.utc)) < timedelta(minutes=1)
    api.with_key(created["key"]).ok("GET", "/v1/workspace")
    assert {k["id"]: k for k in api.ok("GET", "/v1/api-keys")["items"]}[created["id"]]["last_used_at"] == first

    table = dynamodb_table("api_keys")
    [item] = [i for i in table.scan()["Items"] if i["key_id"] == created["id"]]
    stale = format_iso(datetime.now(timezone.utc) - timedelta(minutes=6))
    table.update_item(Key={"key_hash": item["key_hash"]}, UpdateExpression="SET last_used_at = :t",
                      ExpressionAttributeValues={":t": stale})
    api.with_key(created["key"]).ok("GET", "/v1/workspace")
    assert {k["id"]: k for k in api.ok("GET", "/v1/api-keys")["items"]}[created["id"]]["last_used_at"] > stale


ROLES = ["viewer", "member", "admin", "owner"]


@pytest.mark.parametrize("caller_role", ["admin", "owner"])
@pytest.mark.parametrize("target_role", ROLES)
def test_a_key_can_create_and_revoke_only_keys_up_to_its_own_role(api, caller_role, target_role):
    caller = api.with_key(api.ok("POST", "/v1/api-keys", {"label": "c", "role": caller_role}, status=201)["key"])
    allowed = ROLES.index(target_role) <= ROLES.index(caller_role)

    created = caller.post("/v1/api-keys", {"label": "t", "role": target_role})
    assert created.status_code == (201 if allowed else 403), created.body
    target = api.ok("POST", "/v1/api-keys", {"label": "t2", "role": target_role}, status=201)
    deleted = caller.delete(f"/v1/api-keys/{target['id']}")
    assert deleted.status_code == (204 if allowed else 403), deleted.body
    if not allowed:
        assert deleted.json_body["error"]["code"] == "FORBIDDEN"
        assert api.with_key(target["key"]).get("/v1/workspace").status_code == 200  # still works


def test_an_admin_cannot_revoke_the_owner_key(api):
    admin = api.with_key(api.ok("POST", "/v1/api-keys", {"label": "a", "role": "admin"}, status=201)["key"])
    owner_id = api.ok("GET", "/v1/workspace")["key_id"]
    response = admin.delete(f"/v1/api-keys/{owner_id}")
    assert response.status_code == 403 and response.json_body["error"]["code"] == "FORBIDDEN"
    assert api.get("/v1/workspace").status_code == 200


def test_the_last_owner_key_cannot_be_revoked(api):
    owner_id = api.ok("GET", "/v1/workspace")["key_id"]
    response = api.delete(f"/v1/api-keys/{owner_id}")
    assert response.status_code == 409
    error = response.json_body["error"]
    assert error["code"] == "CONFLICT" and "last owner key" in error["message"] and error["request_id"]
    assert api.get("/v1/workspace").status_code == 200

    # with a second owner, either may go, but not both
    second = api.ok("POST", "/v1/api-keys", {"label": "o2", "role": "owner"}, status=201)
    assert api.delete(f"/v1/api-keys/{owner_id}").status_code == 204
    as_second = api.with_key(second["key"])
    assert as_second.delete(f"/v1/api-keys/{second['id']}").status_code == 409
    assert as_second.ok("GET", "/v1/workspace")["role"] == "owner"


def test_the_last_owner_guard_is_the_conditional_write_not_a_read_of_the_keys(api):
    """Race safety: the refusal comes from the workspace's owner count, decremented in the same
    transaction as each delete and conditional on staying above zero, so it holds however many
    revocations run at once on DynamoDB. Here the count is set as a concurrent revocation that
    committed between our read and our write would leave it: the key list still shows two owner
    keys, and the delete is still refused. (moto's DynamoDB does not serialize concurrent
    transactions, so a threaded test of this would be flaky.)"""
    from chalicelib.clients import dynamodb_table

    second = api.ok("POST", "/v1/api-keys", {"label": "o2", "role": "owner"}, status=201)
    assert [k["role"] for k in api.ok("GET", "/v1/api-keys")["items"]].count("owner") == 2
    dynamodb_table("workspaces").update_item(Key={"workspace_id": api.workspace_id},
                                             UpdateExpression="SET owner_keys = :n", ExpressionAttributeValues={":n": 1})
    response = api.delete(f"/v1/api-keys/{second['id']}")
    assert response.status_code == 409 and response.json_body["error"]["code"] == "CONFLICT"
    assert api.with_key(second["key"]).get("/v1/workspace").status_code == 200


def test_a_workspace_without_an_owner_count_counts_its_owners_first(api):
    """Workspaces created before owner_keys existed: the count is taken from the keys on first use."""
    from chalicelib.clients import dynamodb_table

    dynamodb_table("workspaces").update_item(Key={"workspace_id": api.workspace_id}, UpdateExpression="REMOVE owner_keys")
    owner_id = api.ok("GET", "/v1/workspace")["key_id"]
    assert api.delete(f"/v1/api-keys/{owner_id}").status_code == 409
    second = api.ok("POST", "/v1/api-keys", {"label": "o2", "role": "owner"}, status=201)
    assert api.delete(f"/v1/api-keys/{owner_id}").status_code == 204
    assert api.with_key(second["key"]).delete(f"/v1/api-keys/{second['id']}").status_code == 409
