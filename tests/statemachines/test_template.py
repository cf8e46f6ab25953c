"""The AWS template is built from the same declarations as the local stack, packages with
Chalice offline and passes cfn-lint (which validates inline state-machine definitions)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import resources, template

CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


def test_template_declares_every_table_and_state_machine():
    built = template.build("dev")["Resources"]
    assert {r["Properties"]["TableName"] for r in built.values() if r.get("Type") == "AWS::DynamoDB::Table"} == {
        f"iofold-dev-{t.name}" for t in resources.TABLES}
    machines = {r["Properties"]["StateMachineName"]: r["Properties"] for r in built.values()
                if r.get("Type") == "AWS::StepFunctions::StateMachine"}
    assert set(machines) == {f"iofold-dev-{sm.name}" for sm in resources.STATE_MACHINES}
    for props in machines.values():
        text = json.dumps(props["Definition"])
        for name in props["DefinitionSubstitutions"]:
            assert "${" + name + "}" in text


def test_sandbox_function_has_its_own_empty_role():
    built = template.build("dev")["Resources"]
    role = built["SandboxRole"]["Properties"]
    assert "Policies" not in role and len(role["ManagedPolicyArns"]) == 1
    assert built["Sandbox"]["Properties"]["Role"] == {"Fn::GetAtt": ["SandboxRole", "Arn"]}


@pytest.mark.slow
def test_the_data_bucket_lets_the_dashboard_put_presigned_uploads_and_nothing_else():
    rules = template.build("dev")["Resources"]["DataBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [r["AllowedMethods"] for r in rules] == [["PUT"]] and rules[0]["AllowedHeaders"] == ["Content-Type"]


def test_packaged_template_passes_cfn_lint():
    assert template.check("dev") == 0


def test_cfn_lint_catches_a_broken_state_machine(tmp_path):
    doc = {"Resources": {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "Definition": {"StartAt": "A", "States": {"A": {"Type": "Tusk", "End": True}}}}}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = subprocess.run([CFN_LINT, str(path), "--regions", "us-east-1"], capture_output=True, text=True)
    assert result.returncode not in (0, 4), result.stdout
