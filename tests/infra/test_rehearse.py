"""``make rehearse`` end to end: the packaged template deployed into moto's CloudFormation, the
loop run through the API with every function in its own process and environment. And the
point of it: a function whose environment lacks a variable it reads fails the rehearsal."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra import deploy, rehearse, resources as declared

ROOT = Path(__file__).resolve().parents[2]
OK_LINE = re.compile(r"rehearsal: ok \((\d+) resources, (\d+) functions, loop passed in [\d.]+ s\)")


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """One package of the current tree for the module's rehearsals."""
    out = tmp_path_factory.mktemp("build")
    deploy.package("dev", out)
    return out


def _rehearse(build_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "IOFOLD_", "MOTO_"))}
    return subprocess.run([sys.executable, "-m", "infra.rehearse", "--stage", "dev", "--build-dir", str(build_dir),
                           "--skip-package", *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)


@pytest.mark.slow
def test_rehearsal_deploys_the_stack_and_the_loop_passes(build_dir):
    result = _rehearse(build_dir)
    lines = result.stdout.strip().splitlines()
    match = OK_LINE.fullmatch(lines[-1]) if lines else None
    assert result.returncode == 0 and match, result.stdout[-4000:] + result.stderr[-2000:]
    resources, functions = int(match[1]), int(match[2])
    assert functions == len(declared.FUNCTIONS) and resources > 40  # every declared function deployed
    assert "bootstrap again: nothing created" in result.stdout


@pytest.mark.slow
def test_rehearsal_fails_when_a_function_lacks_a_variable_it_reads(build_dir):
    result = _rehearse(build_dir, "--drop-env", "ImportPage:IOFOLD_TABLE_TRACES")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "rehearsal: FAILED" in result.stdout and "IOFOLD_TABLE_TRACES" in result.stdout, result.stdout[-3000:]


def test_environment_check_names_a_variable_moto_dropped_and_a_placeholder():
    expected = {"Api": {"IOFOLD_BUCKET", "IOFOLD_SCHEDULE_GROUP"}, "Task": {"IOFOLD_KMS_KEY"}}
    resources = {"Api": "fn-api", "Task": "fn-task"}
    configs = {"fn-api": {"IOFOLD_BUCKET": "b"}, "fn-task": {"IOFOLD_KMS_KEY": "not-emulated:Key"}}
    assert rehearse.check_environments(expected, resources, configs) == [
        "Api: IOFOLD_SCHEDULE_GROUP is in the template but not in the function's environment",
        "Task: IOFOLD_KMS_KEY=not-emulated:Key names a resource the rehearsal does not emulate"]


def test_drop_env_removes_exactly_one_variable():
    template = {"Resources": {"F": {"Type": "AWS::Lambda::Function",
                                    "Properties": {"Environment": {"Variables": {"A": "1", "B": "2"}}}}}}
    rehearse.drop_env(template, "F:A")
    assert rehearse.template_env(template) == {"F": {"B"}}
    with pytest.raises(rehearse.RehearsalError):
        rehearse.drop_env(template, "F:A")


def test_a_reference_cycle_is_refused_as_cloudformation_would():
    template = {"Resources": {
        "Task": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {
            "IOFOLD_SM_EXECUTE_EVAL": {"Ref": "Machine"}}}}},
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "DefinitionSubstitutions": {"Fn_task": {"Fn::GetAtt": ["Task", "Arn"]}}}},
        "Other": {"Type": "AWS::SQS::Queue", "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-${Machine.Name}"}}},
    }}
    assert rehearse.dependency_cycle(template) == ["Task", "Machine", "Task"]
    # naming the machine with Sub (as infra/template.py does) breaks the cycle
    template["Resources"]["Task"]["Properties"]["Environment"]["Variables"]["IOFOLD_SM_EXECUTE_EVAL"] = {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-x"}
    assert rehearse.dependency_cycle(template) is None


def test_telemetry_check_wants_an_invocation_line_per_task_and_the_functions_namespace():
    done = json.dumps({"message": "task done", "function": "execute_chunk", "request_id": "r1", "job_id": "j"})
    blob = json.dumps({"_aws": {"CloudWatchMetrics": [{"Namespace": "iofold/s", "Dimensions": [["service"]],
                                                       "Metrics": [{"Name": "ExecutionsPassed"}]}]},
                       "service": "iofold", "ExecutionsPassed": [3.0]})
    logs = {"ExecuteChunk": f"START\n{done}\n{blob}\n", "JobFinish": "print output only\n",
            rehearse.API_FUNCTION: blob.replace("iofold/s", "elsewhere")}
    problems, metrics = rehearse.check_telemetry(logs, {"ExecuteChunk": "iofold/s", "JobFinish": "iofold/s",
                                                        rehearse.API_FUNCTION: "iofold/s"})
    assert problems == [f"{rehearse.API_FUNCTION}: EMF namespace 'elsewhere', its environment says 'iofold/s'",
                        "JobFinish: no structured invocation line with its function and request id"]
    assert metrics == {"ExecutionsPassed": 6.0}
