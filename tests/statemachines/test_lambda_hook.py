"""Canary for infra/local/lambda_hook.py, which patches a moto internal: if moto moves, this fails loudly."""

import json

from moto.awslambda_simple.models import LambdaSimpleBackend

from chalicelib.clients import aws_client


def test_hook_is_installed_on_moto_simple_lambda(stack):
    from infra.local import lambda_hook

    assert LambdaSimpleBackend.invoke is lambda_hook._invoke


def test_invoke_runs_the_app_handler_and_returns_its_result(stack):
    response = aws_client("lambda").invoke(FunctionName=stack.provisioned.function_arns["job_fail"],
                                           Payload=json.dumps({"workspace_id": "ws_x", "job_id": "job_missing"}))
    # job_fail on a job that does not exist raises NotFound: the error crosses as on AWS
    assert response.get("FunctionError") == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "NotFound" and "job_missing" in error["errorMessage"]


def test_state_machine_sees_the_exception_class_as_error(stack):
    import time

    sfn = aws_client("stepfunctions")
    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
        "Parameters": {"FunctionName": stack.provisioned.function_arns["job_fail"], "Payload.$": "$"},
        "Catch": [{"ErrorEquals": ["NotFound"], "ResultPath": "$.caught", "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True}}}
    arn = sfn.create_state_machine(name=f"canary-{time.time_ns()}", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name=f"c{time.time_ns()}",
                                    input=json.dumps({"workspace_id": "ws_x", "job_id": "job_missing"}))
    for _ in range(100):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["caught"]["Error"] == "NotFound"
