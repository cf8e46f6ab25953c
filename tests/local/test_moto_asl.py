"""Canary for infra/local/moto_asl.py, which patches moto's ASL interpreter: the source of every
function it wraps or replaces is pinned (a moto upgrade that changes one fails here first); a
distributed map over moto's S3 writes AWS's result files and honours its failure tolerance; a
states:startExecution task starts an execution of its own machine."""

from __future__ import annotations

import hashlib
import inspect
import json
import time

import pytest

from chalicelib.clients import aws_client
from infra.local import moto_asl

# sha256 (first 16 hex digits) of moto 5.2.5's source of each patched function
PINNED = {
    ("DistributedItemProcessorWorker", "_eval_job"): "c97e0ed4aba18b55",
    ("DistributedItemProcessorWorker", "_eval_input"): "c8a62d1f4864ec80",
    ("DistributedIterationComponent", "_map_run"): "e45cb604929ff346",
    ("ResourceEvalS3", "_handle_put_object"): "0613338ea09e12ab",
    ("ResultWriter", "_eval_body"): "bcde5765f0a578a3",
    ("StateTaskServiceSfn", "_normalise_parameters"): "d75d3da19aad01fb",
    ("StateTaskServiceSfn", "_normalise_response"): "00e0b0a50b1dd4ba",
}
BUCKET = "iofold-dmap-canary"


def _original(owner: type, name: str):
    fn = moto_asl._ORIGINAL[name][1] if moto_asl.installed() else getattr(owner, name)
    return getattr(fn, "__func__", fn)


def test_the_patched_moto_functions_are_the_ones_the_patch_was_written_for():
    found = {(owner.__name__, name): hashlib.sha256(inspect.getsource(_original(owner, name)).encode()).hexdigest()[:16]
             for owner, name in moto_asl.PATCHED}
    assert found == PINNED, "moto changed the Distributed Map internals infra/local/moto_asl.py patches"


def test_install_and_uninstall_restore_moto(stack):
    assert moto_asl.installed()
    moto_asl.uninstall()
    try:
        for owner, name in moto_asl.PATCHED:
            assert getattr(owner, name) is not moto_asl._PATCHES[name]
    finally:
        moto_asl.install()
    assert all(owner.__dict__[name] is moto_asl._PATCHES[name] for owner, name in moto_asl.PATCHED)


def _run(sfn, arn: str, tolerance: int) -> dict:
    execution = sfn.start_execution(stateMachineArn=arn, name=f"canary-{time.time_ns()}", input=json.dumps(
        {"bucket": BUCKET, "prefix": f"out/{tolerance}", "tag": "t", "tolerance": tolerance}))
    for _ in range(200):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    pytest.fail("the canary execution did not end")


def test_a_distributed_map_writes_result_files_and_fails_past_its_tolerance(stack):
    s3, sfn = aws_client("s3"), aws_client("stepfunctions")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="items.json", Body=json.dumps([{"n": i} for i in range(5)]).encode())
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ToleratedFailurePercentagePath": "$.tolerance", "MaxConcurrency": 2,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                       "Parameters": {"Bucket.$": "$.bucket", "Key": "items.json"}},
        "ItemSelector": {"n.$": "$$.Map.Item.Value.n", "tag.$": "$.tag"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "C",
                          "States": {
                              "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "F"}],
                                    "Default": "P"},
                              "F": {"Type": "Fail", "Error": "Boom", "Cause": "three"},
                              "P": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"},
                                    "End": True}}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket.$": "$.bucket", "Prefix.$": "$.prefix"}},
        "ResultPath": "$.written", "End": True}}}
    arn = sfn.create_state_machine(name=f"dmap-canary-{time.time_ns()}", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]

    tolerated = _run(sfn, arn, tolerance=20)  # 1 of 5 failed = 20 %: not above
    assert tolerated["status"] == "SUCCEEDED", tolerated
    written = json.loads(tolerated["output"])["written"]["ResultWriterDetails"]
    assert written["Bucket"] == BUCKET
    assert written["Key"].startswith("out/20/") and written["Key"].endswith("/manifest.json")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=written["Key"])["Body"].read())
    files = manifest["ResultFiles"]
    assert [len(files[s]) for s in ("SUCCEEDED", "FAILED", "PENDING")] == [1, 1, 0]
    succeeded = json.loads(s3.get_object(Bucket=BUCKET, Key=files["SUCCEEDED"][0]["Key"])["Body"].read())
    assert [(json.loads(c["Input"]), json.loads(c["Output"])) for c in succeeded] == [
        ({"n": n, "tag": "t"}, {"twice": 2 * n}) for n in (0, 1, 2, 4)]
    assert {c["Status"] for c in succeeded} == {"SUCCEEDED"}
    failed = json.loads(s3.get_object(Bucket=BUCKET, Key=files["FAILED"][0]["Key"])["Body"].read())
    assert [(json.loads(c["Input"]), c["Status"], c["Error"], c["Cause"]) for c in failed] == [
        ({"n": 3, "tag": "t"}, "FAILED", "Boom", "three")]

    exceeded = _run(sfn, arn, tolerance=10)
    assert exceeded["status"] == "FAILED" and exceeded["error"] == "States.ExceedToleratedFailureThreshold", exceeded


def test_a_start_execution_task_starts_its_own_machine_and_returns_asl_cased_fields(stack):
    sfn = aws_client("stepfunctions")
    definition = {"StartAt": "More", "States": {
        "More": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 2, "Next": "Done"}],
                 "Default": "Again"},
        "Again": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                  "Parameters": {"StateMachineArn.$": "$$.StateMachine.Id",
                                 "Name.$": "States.Format('{}-{}', $.run, $.n)",
                                 "Input": {"run.$": "$.run", "n.$": "States.MathAdd($.n, 1)",
                                           "from.$": "$$.Execution.Id"}},
                  "ResultSelector": {"continued_as.$": "$.ExecutionArn"}, "End": True},
        "Done": {"Type": "Pass", "End": True}}}
    arn = sfn.create_state_machine(name=f"again-{time.time_ns()}", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    run = f"r{time.time_ns()}"
    first = sfn.start_execution(stateMachineArn=arn, name=f"{run}-start", input=json.dumps({"run": run, "n": 0}))
    chain, arn_now = [], first["executionArn"]
    for _ in range(200):
        described = sfn.describe_execution(executionArn=arn_now)
        if described["status"] == "RUNNING":
            time.sleep(0.05)
            continue
        chain.append(described)
        nxt = json.loads(described.get("output") or "{}").get("continued_as")
        if described["status"] != "SUCCEEDED" or not nxt:
            break
        arn_now = nxt
    assert [d["status"] for d in chain] == ["SUCCEEDED"] * 3, chain[-1]
    assert [d["name"] for d in chain] == [f"{run}-start", f"{run}-0", f"{run}-1"]
    assert json.loads(chain[-1]["output"]) == {"run": run, "n": 2, "from": chain[1]["executionArn"]}
