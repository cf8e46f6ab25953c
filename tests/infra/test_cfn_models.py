"""Canary for infra/local/cfn_models.py (it extends moto's CloudFormation registry; moto is
pinned): the types it adds are still missing from moto, and a stack using them resolves every
reference a function's environment takes from them."""

import json

import boto3
import pytest

from infra.local import cfn_models

ADDED = ("AWS::ApiGateway::Stage", "AWS::SecretsManager::Secret", "AWS::Scheduler::ScheduleGroup",
         "AWS::Scheduler::Schedule", "AWS::S3::BucketPolicy", "AWS::EC2::SecurityGroupEgress",
         "AWS::CloudWatch::Alarm", "AWS::SNS::Subscription", "AWS::ApiGateway::Account")


def test_moto_still_lacks_the_added_types():
    native = cfn_models.native_types()
    assert not set(ADDED) & native, "moto now has some of these: drop their models from cfn_models.py"
    assert "AWS::CloudFront::Distribution" not in native


TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                  "Action": "sts:AssumeRole"}]}
TEMPLATE = {
    "Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
        "Task": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.11", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(e, c):\n    return e\n"}}},
        "Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": "canary-machine", "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
            "Definition": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${Fn_task}", "End": True}}},
            "DefinitionSubstitutions": {"Fn_task": {"Fn::GetAtt": ["Task", "Arn"]}},
            "LoggingConfiguration": {"Level": "ERROR", "IncludeExecutionData": False, "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["MachineLogs", "Arn"]}}}]},
            "TracingConfiguration": {"Enabled": True}}},
        "MachineLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/canary/machine",
                                                                       "RetentionInDays": 7}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Mail": {"Type": "AWS::SNS::Subscription", "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email",
                                                                  "Endpoint": "ops@example.com"}},
        "Failures": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmActions": [{"Ref": "Topic"}], "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Metrics": [
                {"Id": "failed", "ReturnData": False, "MetricStat": {"Period": 300, "Stat": "Sum", "Metric": {
                    "Namespace": "AWS/States", "MetricName": "ExecutionsFailed",
                    "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": "Machine"}}]}}},
                {"Id": "total", "Expression": "FILL(failed, 0)", "ReturnData": True}]}},
        "GatewayLogsRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
        "GatewayAccount": {"Type": "AWS::ApiGateway::Account", "Properties": {
            "CloudWatchRoleArn": {"Fn::GetAtt": ["GatewayLogsRole", "Arn"]}}},
        "Group": {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": "canary-group"}},
        "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "filled-later"}},
        "EmptySecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Description": "no value yet"}},
        "Cdn": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {"Enabled": True}}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": {
            "swagger": "2.0", "info": {"title": "canary"}, "paths": {"/v1/health": {"get": {
                "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": {"Fn::Sub":
                    "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Task.Arn}/invocations"}}}}}}}},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": "Api"},
                                                                             "StageName": "Stage"}},
        "DevStage": {"Type": "AWS::ApiGateway::Stage", "Properties": {
            "RestApiId": {"Ref": "Api"}, "DeploymentId": {"Ref": "Deployment"}, "StageName": "dev"}},
        "Reader": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.11", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(e, c):\n    return e\n"},
            "Environment": {"Variables": {
                "IOFOLD_SM_CANARY": {"Ref": "Machine"}, "IOFOLD_SCHEDULE_GROUP": {"Ref": "Group"},
                "IOFOLD_LLM_SECRET_ARN": {"Ref": "Secret"}, "CDN": {"Fn::GetAtt": ["Cdn", "DomainName"]},
                "API": {"Ref": "Api"}}}}},
    },
}


@pytest.fixture
def endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    from infra.local.stack import configure_moto

    configure_moto()  # the ASL interpreter on: the case moto's own StateMachine model gets wrong
    for var, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_a_stack_with_the_added_types_resolves_every_reference(endpoint):
    handled = cfn_models.install(endpoint, "us-east-1", [r["Type"] for r in TEMPLATE["Resources"].values()])
    assert "not emulated" in handled["AWS::CloudFront::Distribution"]
    client = lambda service: boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")  # noqa: E731
    cfn = client("cloudformation")
    cfn.create_stack(StackName="canary", TemplateBody=json.dumps(TEMPLATE))
    assert cfn.describe_stacks(StackName="canary")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId")
                for r in cfn.describe_stack_resources(StackName="canary")["StackResources"]}

    env = client("lambda").get_function_configuration(FunctionName=physical["Reader"])["Environment"]["Variables"]
    machine = client("stepfunctions").describe_state_machine(stateMachineArn=env["IOFOLD_SM_CANARY"])
    task_arn = client("lambda").get_function(FunctionName=physical["Task"])["Configuration"]["FunctionArn"]
    assert json.loads(machine["definition"])["States"]["T"]["Resource"] == task_arn
    assert client("scheduler").get_schedule_group(Name=env["IOFOLD_SCHEDULE_GROUP"])["Name"] == "canary-group"
    assert client("secretsmanager").get_secret_value(SecretId=env["IOFOLD_LLM_SECRET_ARN"])["SecretString"] == "filled-later"
    with pytest.raises(client("secretsmanager").exceptions.ResourceNotFoundException):  # empty, as on AWS
        client("secretsmanager").get_secret_value(SecretId=physical["EmptySecret"])
    assert env["CDN"] == "not-emulated:Cdn.DomainName"
    api = client("apigateway")
    assert api.get_stage(restApiId=env["API"], stageName="dev")["stageName"] == "dev"
    paths = {r["path"]: set(r.get("resourceMethods", {})) for r in api.get_resources(restApiId=env["API"])["items"]}
    assert paths["/v1/health"] == {"GET"}

    logs = client("logs").describe_log_groups(logGroupNamePrefix="/canary/machine")["logGroups"]
    assert [g["retentionInDays"] for g in logs] == [7]
    assert machine["tracingConfiguration"] == {"enabled": True}
    destination, = machine["loggingConfiguration"]["destinations"]
    assert destination["cloudWatchLogsLogGroup"]["logGroupArn"].startswith(logs[0]["arn"].removesuffix(":*"))
    alarm, = client("cloudwatch").describe_alarms(AlarmNames=[physical["Failures"]])["MetricAlarms"]
    topic = physical["Topic"]
    assert alarm["AlarmActions"] == [topic]
    stat = next(m for m in alarm["Metrics"] if m["Id"] == "failed")["MetricStat"]["Metric"]
    assert stat["Dimensions"] == [{"Name": "StateMachineArn", "Value": env["IOFOLD_SM_CANARY"]}]
    subscriptions = client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(x["Protocol"], x["Endpoint"]) for x in subscriptions] == [("email", "ops@example.com")]
    role = client("iam").get_role(RoleName=physical["GatewayLogsRole"])["Role"]["Arn"]
    assert api.get_account()["cloudwatchRoleArn"] == role
