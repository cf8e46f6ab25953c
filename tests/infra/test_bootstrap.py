"""infra/bootstrap.py against moto: the first workspace and owner key land in the stack's
tables once; a second run creates nothing and never shows a key again."""

import json

import pytest

from chalicelib.auth.repository import AuthRepository
from chalicelib.auth.service import authenticate
from infra import bootstrap, template




def _stack_with_auth_tables(session, stack_name: str) -> dict[str, str]:
    """A stack holding the template's auth tables (as the real template declares them); their names."""
    built = template.build("dev")["Resources"]
    body = {"Resources": {template.table_id(t): built[template.table_id(t)] for t in bootstrap.AUTH_TABLES}}
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]}
    return {t: physical[template.table_id(t)] for t in bootstrap.AUTH_TABLES}


def test_bootstrap_creates_one_workspace_and_a_working_owner_key_then_nothing(aws, capsys):
    names = _stack_with_auth_tables(aws, "iofold-rehearse")

    assert bootstrap.main(["--stack-name", "iofold-rehearse"]) == 0
    first = capsys.readouterr().out
    assert "created workspace" in first
    key = first.split("store it): ")[1].split()[0]

    assert bootstrap.main(["--stack-name", "iofold-rehearse"]) == 0
    second = capsys.readouterr().out
    assert "already exists; nothing created" in second and "iof_" not in second

    ddb = aws.resource("dynamodb")
    assert ddb.Table(names["workspaces"]).scan()["Count"] == 1
    assert ddb.Table(names["api_keys"]).scan()["Count"] == 1
    repo = AuthRepository(ddb.Table(names["workspaces"]), ddb.Table(names["api_keys"]), aws.client("dynamodb"))
    caller = authenticate(f"Bearer {key}", repo=repo)
    assert caller.role == "owner"
    assert ddb.Table(names["api_keys"]).scan()["Items"][0]["key_hash"] != key  # only the hash is stored


def test_bootstrap_finds_the_tables_from_the_environment(aws):
    names = _stack_with_auth_tables(aws, "other")
    env = {bootstrap.table_var(t): n for t, n in names.items()}
    result = bootstrap.run(aws, stack_name=None, env=env, name="Team")
    assert result.created and result.workspace.name == "Team"
    again = bootstrap.run(aws, stack_name=None, env=env)
    assert not again.created and again.api_key is None and again.workspace.id == result.workspace.id


def test_bootstrap_says_what_is_missing(aws, capsys):
    with pytest.raises(bootstrap.BootstrapError, match="IOFOLD_TABLE_WORKSPACES"):
        bootstrap.run(aws, stack_name=None, env={"IOFOLD_TABLE_WORKSPACES": "t"})
    aws.client("cloudformation").create_stack(StackName="empty", TemplateBody=json.dumps(
        {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}}))
    assert bootstrap.main(["--stack-name", "empty"]) == 2
    assert "has no TableWorkspaces, TableApiKeys" in capsys.readouterr().err


def test_tables_come_from_resources_already_listed():
    resources = {template.table_id(t): f"phys-{t}" for t in bootstrap.AUTH_TABLES} | {"Other": "x"}
    assert bootstrap.tables_from_resources(resources, "s") == {t: f"phys-{t}" for t in bootstrap.AUTH_TABLES}
    with pytest.raises(bootstrap.BootstrapError, match="stack s has no TableApiKeys"):
        bootstrap.tables_from_resources({template.table_id("workspaces"): "w"}, "s")
