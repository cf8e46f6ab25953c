"""The AWS deployment, declared from infra/resources.py: a template merged into Chalice's
(``chalice package --merge-template``), so tables, the bucket, the KMS key, the state machines,
the per-function roles and environments come from the same declarations the local stack uses.

    python -m infra.template --stage dev             # writes infra/build/dev/merge.json
    python -m infra.template --stage dev --package   # + chalice package → infra/build/dev/{sam.json,
                                                     #   deployment.zip, layer-deployment.zip}, then
                                                     #   cfn-lint and statelint

Every function's environment names its resources with Ref/GetAtt/Sub (never a literal), and
each function has its own role granting what its declaration lists, nothing more.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib import config
from infra import monitoring, resources

BUILD_DIR = Path(__file__).parent / "build"
ROOT = Path(__file__).resolve().parents[1]
SANDBOX_ENV = {"IOFOLD_SANDBOX_PROFILE": "lambda", "IOFOLD_SANDBOX_REQUIRE": "seccomp"}
# AWS-managed CloudFront cache policy "Managed-CachingOptimized" (a fixed, documented id).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def camel(name: str) -> str:
    """Chalice's logical id for a function name (``import_page`` → ``ImportPage``)."""
    return "".join(part.capitalize() for part in name.split("_"))


def logical_id(function_name: str) -> str:
    """The packaged template's logical id of a declared function (the API is Chalice's APIHandler)."""
    return "APIHandler" if function_name == resources.API_FUNCTION else camel(function_name)


def table_id(name: str) -> str:
    return "Table" + camel(name)


def state_machine_id(name: str) -> str:
    return "StateMachine" + camel(name)


def _sub(text: str) -> dict:
    return {"Fn::Sub": text}


def _state_machine_name(name: str) -> dict:
    # Named from the stack (not Ref): job_finish starts execute_eval, which calls job_finish, so a
    # Ref would be a dependency cycle.
    return _sub(f"${{AWS::StackName}}-{name}")


def _state_machine_arn(name: str) -> dict:
    return _sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:"
                f"${{AWS::StackName}}-{name}")


def env_value(var: str) -> Any:
    """The Ref/GetAtt/Sub the template gives one resource variable."""
    for table in resources.TABLES:
        if var == config.table_var(table.name):
            return {"Ref": table_id(table.name)}
    for sm in resources.STATE_MACHINES:
        if var == config.state_machine_var(sm.name):
            return _state_machine_arn(sm.name)
    return {
        config.BUCKET_VAR: {"Ref": "DataBucket"},
        config.KMS_KEY_VAR: {"Ref": "CredentialsKey"},
        config.SANDBOX_FUNCTION_VAR: {"Ref": "Sandbox"},
        config.SCHEDULE_TARGET_ARN_VAR: {"Fn::GetAtt": ["ScheduledImport", "Arn"]},
        config.SCHEDULE_ROLE_ARN_VAR: {"Fn::GetAtt": ["SchedulerRole", "Arn"]},
        config.SCHEDULE_GROUP_VAR: {"Ref": "ScheduleGroup"},
        config.LLM_SECRET_ARN_VAR: {"Ref": "LlmSecret"},
    }[var]


def build(stage: str) -> dict[str, Any]:
    """The merge template for one stage."""
    out: dict[str, Any] = {}
    for table in resources.TABLES:
        props: dict[str, Any] = {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": table.key_schema(), "AttributeDefinitions": table.attribute_definitions(),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        }
        if table.indexes:
            props["GlobalSecondaryIndexes"] = table.global_secondary_indexes()
        if table.ttl_attribute:
            props["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
        out[table_id(table.name)] = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                                     "UpdateReplacePolicy": "Retain", "Properties": props}
    out["DataBucket"] = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                         "Properties": {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]},
        "PublicAccessBlockConfiguration": _private(),
        # browsers upload large trace files straight to uploads/ through presigned PUT URLs
        "CorsConfiguration": {"CorsRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"],
                                             "AllowedHeaders": ["*"], "MaxAge": 600}]},
        "LifecycleConfiguration": {"Rules": _expiry_rules()}}}
    out["CredentialsKey"] = {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                             "Properties": {
        "Description": "iofold third-party credentials (envelope encryption)", "EnableKeyRotation": True,
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": _sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
            "Action": "kms:*", "Resource": "*"}]}}}
    out["CredentialsKeyAlias"] = {"Type": "AWS::KMS::Alias", "Properties": {
        "AliasName": _sub("alias/${AWS::StackName}-credentials"), "TargetKeyId": {"Ref": "CredentialsKey"}}}
    out["LlmSecret"] = {"Type": "AWS::SecretsManager::Secret", "DeletionPolicy": "Retain",
                        "UpdateReplacePolicy": "Retain", "Properties": {
        # created without a value, so a stack update never overwrites the key the user put in
        "Description": "iofold: the Anthropic API key for eval generation. Empty until you set it "
                       "(aws secretsmanager put-secret-value --secret-id <LlmSecretArn> --secret-string sk-ant-...); "
                       "while empty, generation runs offline and its job result says so."}}
    out["ScheduleGroup"] = {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {}}
    out["SchedulerRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _trust("scheduler.amazonaws.com"),
        "Policies": [_policy("invoke-scheduled-import", [
            _allow("lambda:InvokeFunction", {"Fn::GetAtt": ["ScheduledImport", "Arn"]})])]}}

    task_functions = sorted({f for sm in resources.STATE_MACHINES for f in sm.functions})
    out["StatesRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _trust("states.amazonaws.com"),
        "Policies": [_policy("invoke-tasks", [
            _allow("lambda:InvokeFunction", [{"Fn::GetAtt": [camel(f), "Arn"]} for f in task_functions])])]}}
    for sm in resources.STATE_MACHINES:
        definition = json.loads(sm.path.read_text())
        definition["TimeoutSeconds"] = sm.timeout_seconds
        out[state_machine_id(sm.name)] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": _state_machine_name(sm.name), "RoleArn": {"Fn::GetAtt": ["StatesRole", "Arn"]},
            "Definition": definition,
            "DefinitionSubstitutions": {f"Fn_{f}": {"Fn::GetAtt": [camel(f), "Arn"]} for f in sm.functions}}}

    out["StatesSelfPolicy"] = _states_self_policy()
    for fn in resources.FUNCTIONS:
        out.update(_function(fn))
    for name, rate in resources.PERIODIC_FUNCTIONS.items():
        out.update(_periodic(name, rate))
    # Chalice's layer of requirements.txt (automatic_layer): named after the stack, like everything else
    out["ManagedLayer"] = {"Properties": {"LayerName": _sub("${AWS::StackName}-dependencies")}}
    out.update(_sandbox_network())
    out.update(_dashboard())
    out["RestAPI"] = {"Properties": {"DefinitionBody": {"x-amazon-apigateway-gateway-responses": gateway_responses()}}}
    monitoring.add(out, stage)  # log retention, X-Ray, state machine logging, alarms, dashboard
    return {"Parameters": _parameters(), "Conditions": _conditions(), "Resources": out,
            "Outputs": _outputs(stage)}


# State machines that start executions of themselves: execute_eval's Distributed Map runs each chunk
# in a child execution; import_traces continues in a new execution every N pages.
SELF_STARTING = ("execute_eval", "import_traces")


def _states_self_policy() -> dict[str, Any]:
    """What the state machines' role needs beyond invoking tasks, by reference to the machines and the
    bucket (a separate policy: a machine names the role, so the role cannot name the machine): start,
    describe and stop their own (child) executions; the Distributed Map's ItemReader reads the chunk
    manifest and its ResultWriter writes results, both under the job files (jobs/)."""
    machines = [state_machine_id(name) for name in SELF_STARTING]
    executions = [_sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:"
                       f"${{{m}.Name}}{suffix}") for m in machines for suffix in ("/*", ":*")]
    return {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "own-executions-and-job-files", "Roles": [{"Ref": "StatesRole"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            _allow("states:StartExecution", [{"Ref": m} for m in machines]),
            _allow(["states:DescribeExecution", "states:StopExecution"], executions),
            _allow(["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
                   _sub("${DataBucket.Arn}/jobs/*")),
        ]}}}


# settings a function's environment takes from a template parameter (Function.setting_vars)
SETTING_PARAMETERS = {config.JOB_RETENTION_DAYS_VAR: resources.JOB_RETENTION_PARAMETER,
                      config.env_var("execute_max_concurrency"): "ExecuteMaxConcurrency"}


def _expiry_rules() -> list[dict[str, Any]]:
    """The data bucket's lifecycle: job files after the job retention, upload staging objects sooner."""
    return [{"Id": "expire-" + e.prefix.strip("/"), "Status": "Enabled", "Prefix": e.prefix,
             "ExpirationInDays": e.days if e.days else {"Ref": resources.JOB_RETENTION_PARAMETER},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
            for e in resources.EXPIRING_PREFIXES]


def _function(fn: resources.Function) -> dict[str, Any]:
    """The function's environment and role (merged into Chalice's function), its log group and log policy."""
    lid = logical_id(fn.name)
    variables = {v: env_value(v) for v in fn.env_vars()}
    # Fn::Sub: environment values are strings (a Number parameter's Ref is one on AWS, not in every emulator)
    variables.update({v: _sub(f"${{{SETTING_PARAMETERS[v]}}}") for v in fn.setting_vars()})
    props: dict[str, Any] = {"Role": {"Fn::GetAtt": [f"{lid}Role", "Arn"]}, "Timeout": fn.timeout_s,
                             "MemorySize": fn.memory_mb, "Environment": {"Variables": variables}}
    role: dict[str, Any] = {"AssumeRolePolicyDocument": _trust("lambda.amazonaws.com")}
    statements = _statements(fn)
    if statements:
        role["Policies"] = [_policy("resources", statements)]
    if fn.name == "sandbox":
        props["Environment"]["Variables"].update(SANDBOX_ENV)
        props.update(VpcConfig={
            "SubnetIds": {"Fn::If": ["CreateSandboxNetwork", [{"Ref": "SandboxSubnetA"}, {"Ref": "SandboxSubnetB"}],
                                     {"Ref": "SandboxSubnetIds"}]},
            "SecurityGroupIds": {"Fn::If": ["CreateSandboxNetwork", [{"Ref": "SandboxSecurityGroup"}],
                                            {"Ref": "SandboxSecurityGroupIds"}]}},
            ReservedConcurrentExecutions={"Fn::If": ["SandboxConcurrencyReserved",
                                                     {"Ref": "SandboxReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
        # Lambda checks at creation that a VPC function's role may manage its network interfaces
        role["Policies"] = [_policy("vpc-network-interfaces", [_allow(
            ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
             "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"], "*")])]
    return {
        lid: {"Properties": props},
        f"{lid}Role": {"Type": "AWS::IAM::Role", "Properties": role},
        f"{lid}LogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": _sub(f"/aws/lambda/${{{lid}}}")}},  # retention: infra/monitoring.py
        # a separate policy: the log group is named after the function, which needs the role first
        f"{lid}LogPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "own-log-group", "Roles": [{"Ref": f"{lid}Role"}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                _allow(["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": [f"{lid}LogGroup", "Arn"]})]}}},
    }


def _periodic(name: str, expression: str) -> dict[str, Any]:
    """An EventBridge rule invoking one function at a fixed rate, and the permission it needs."""
    lid = logical_id(name)
    return {
        f"{lid}Schedule": {"Type": "AWS::Events::Rule", "Properties": {
            "ScheduleExpression": expression, "State": "ENABLED",
            "Targets": [{"Id": lid, "Arn": {"Fn::GetAtt": [lid, "Arn"]}}]}},
        f"{lid}SchedulePermission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": lid}, "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [f"{lid}Schedule", "Arn"]}}},
    }


_TABLE_ACTIONS = {
    resources.READ: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
                     "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"],
    resources.READ_WRITE: ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                           "dynamodb:BatchWriteItem"],
}
_OBJECT_ACTIONS = {resources.READ: ["s3:GetObject"],
                   # prepared upload files are written as multipart uploads, aborted on error
                   resources.READ_WRITE: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                          "s3:AbortMultipartUpload"]}


def _statements(fn: resources.Function) -> list[dict]:
    """IAM statements for exactly what the declaration lists."""
    out = []
    if fn.tables:
        arns = [a for t in sorted(set(fn.tables)) for a in (
            {"Fn::GetAtt": [table_id(t), "Arn"]}, _sub(f"${{{table_id(t)}.Arn}}/index/*"))]
        out.append(_allow(_TABLE_ACTIONS[resources.READ] + _TABLE_ACTIONS[resources.READ_WRITE], arns))
    for mode in (resources.READ, resources.READ_WRITE):
        prefixes = sorted(p for p, m in fn.bucket.items() if m == mode)
        if prefixes:
            out.append(_allow(_OBJECT_ACTIONS[mode], [_sub(f"${{DataBucket.Arn}}/{p}*") for p in prefixes]))
    if fn.bucket:  # without it a missing key reads as 403 instead of 404
        out.append(_allow("s3:ListBucket", {"Fn::GetAtt": ["DataBucket", "Arn"]}))
    if fn.kms:
        out.append(_allow(list(fn.kms), {"Fn::GetAtt": ["CredentialsKey", "Arn"]}))
    if fn.state_machines:
        out.append(_allow("states:StartExecution", [_state_machine_arn(sm) for sm in fn.state_machines]))
    if fn.name == resources.API_FUNCTION:  # job status and cancel
        out.append(_allow(["states:DescribeExecution", "states:StopExecution"], [
            _sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:"
                 f"${{AWS::StackName}}-{sm}:*") for sm in fn.state_machines]))
    if fn.invokes_sandbox:
        out.append(_allow("lambda:InvokeFunction", {"Fn::GetAtt": ["Sandbox", "Arn"]}))
    if fn.manages_schedules:
        out.append(_allow(["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
                           "scheduler:GetSchedule"],
                          _sub("arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
                               "schedule/${ScheduleGroup}/*")))
        out.append({**_allow("iam:PassRole", {"Fn::GetAtt": ["SchedulerRole", "Arn"]}),
                    "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}})
    if fn.reads_llm_secret:
        out.append(_allow("secretsmanager:GetSecretValue", {"Ref": "LlmSecret"}))
    return out


def _parameters() -> dict[str, Any]:
    return {
        "ExecuteMaxConcurrency": {
            "Type": "Number", "Default": 10, "MinValue": 1, "MaxValue": 10000,
            "Description": "chunks of an eval run executing at once (the Distributed Map's MaxConcurrency); each "
                           "holds one sandbox invocation, so keep it within the account's Lambda concurrency"},
        **monitoring.parameters(),


        resources.JOB_RETENTION_PARAMETER: {
            "Type": "Number", "Default": 30, "MinValue": 1, "MaxValue": 3650,
            "Description": "days before job records, their progress events and their working files (S3 jobs/) "
                           "expire (DynamoDB TTL and an S3 lifecycle rule)"},
        "SandboxReservedConcurrency": {
            "Type": "Number", "Default": 0, "MinValue": 0,
            "Description": "reserved concurrency for the sandbox function; 0 = none (new accounts have a "
                           "concurrency quota of 10, which a reservation cannot take from)"},
        "SandboxSubnetIds": {
            "Type": "CommaDelimitedList", "Default": "",
            "Description": "comma-separated private subnet ids for the sandbox (no route out); empty = create a "
                           "VPC with two such subnets"},
        "SandboxSecurityGroupIds": {
            "Type": "CommaDelimitedList", "Default": "",
            "Description": "comma-separated security group ids (no egress) for the sandbox; required with "
                           "SandboxSubnetIds, ignored without"},
    }


def _conditions() -> dict[str, Any]:
    return {
        **monitoring.conditions(),
        "CreateSandboxNetwork": {"Fn::Equals": [{"Fn::Join": ["", {"Ref": "SandboxSubnetIds"}]}, ""]},
        "SandboxConcurrencyReserved": {"Fn::Not": [{"Fn::Equals": [{"Ref": "SandboxReservedConcurrency"}, 0]}]},
    }


def _sandbox_network() -> dict[str, Any]:
    """A VPC with two private subnets, no internet or NAT gateway, no endpoints, and a security group
    without egress: code in the sandbox reaches nothing over the network."""
    when = {"Condition": "CreateSandboxNetwork"}
    out: dict[str, Any] = {"SandboxVpc": {"Type": "AWS::EC2::VPC", **when, "Properties": {
        "CidrBlock": "10.42.0.0/16", "EnableDnsSupport": False, "EnableDnsHostnames": False,
        "Tags": [{"Key": "Name", "Value": _sub("${AWS::StackName}-sandbox")}]}}}
    for i, suffix in enumerate("AB"):
        out[f"SandboxSubnet{suffix}"] = {"Type": "AWS::EC2::Subnet", **when, "Properties": {
            "VpcId": {"Ref": "SandboxVpc"}, "CidrBlock": f"10.42.{i}.0/24", "MapPublicIpOnLaunch": False,
            "AvailabilityZone": {"Fn::Select": [i, {"Fn::GetAZs": ""}]}}}
    out["SandboxSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", **when, "Properties": {
        "GroupDescription": "iofold sandbox: no ingress, no egress", "VpcId": {"Ref": "SandboxVpc"},
        # one unusable rule replaces the default allow-all egress
        "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIp": "127.0.0.1/32",
                                 "Description": "placeholder: removes the default allow-all egress"}]}}
    return out


def _dashboard() -> dict[str, Any]:
    """The dashboard's private bucket, served only through CloudFront (origin access control)."""
    return {
        "DashboardBucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "PublicAccessBlockConfiguration": _private(),
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}},
        "DashboardOriginAccessControl": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {
                "Name": _sub("${AWS::StackName}-dashboard"), "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always", "SigningProtocol": "sigv4"}}},
        "DashboardDistribution": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
            "Enabled": True, "Comment": _sub("${AWS::StackName} dashboard"), "DefaultRootObject": "index.html",
            "HttpVersion": "http2", "PriceClass": "PriceClass_100",
            "Origins": [{"Id": "dashboard", "DomainName": {"Fn::GetAtt": ["DashboardBucket", "RegionalDomainName"]},
                         "S3OriginConfig": {"OriginAccessIdentity": ""},
                         "OriginAccessControlId": {"Fn::GetAtt": ["DashboardOriginAccessControl", "Id"]}}],
            "DefaultCacheBehavior": {"TargetOriginId": "dashboard", "ViewerProtocolPolicy": "redirect-to-https",
                                     "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"],
                                     "Compress": True, "CachePolicyId": CACHING_OPTIMIZED}}}},
        "DashboardBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "DashboardBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                "Resource": _sub("${DashboardBucket.Arn}/*"),
                "Condition": {"StringEquals": {"AWS:SourceArn": _sub(
                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${DashboardDistribution}")}}}]}}},
    }


def _outputs(stage: str) -> dict[str, Any]:
    """What the deploy and bootstrap steps read from the stack (besides Chalice's own outputs)."""
    out: dict[str, Any] = {
        "ApiUrl": {"Description": "the API's base URL (the dashboard's config.json api_url)",
                   "Value": _sub(f"https://${{RestAPI}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}/v1")},
        "DashboardUrl": {"Value": _sub("https://${DashboardDistribution.DomainName}")},
        "DashboardBucket": {"Value": {"Ref": "DashboardBucket"}},
        "DashboardDistributionId": {"Value": {"Ref": "DashboardDistribution"}},
        "DataBucket": {"Value": {"Ref": "DataBucket"}},
        "CredentialsKey": {"Value": {"Ref": "CredentialsKey"}},
        "SandboxFunction": {"Value": {"Ref": "Sandbox"}},
        "LlmSecretArn": {"Value": {"Ref": "LlmSecret"}},
        "ScheduleGroup": {"Value": {"Ref": "ScheduleGroup"}},
    }
    for table in resources.TABLES:
        out[table_id(table.name)] = {"Value": {"Ref": table_id(table.name)}}
    for sm in resources.STATE_MACHINES:
        out[state_machine_id(sm.name)] = {"Value": {"Ref": state_machine_id(sm.name)}}
    return out


def _private() -> dict[str, bool]:
    return {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}


def _allow(actions: str | list[str], resource: Any) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def _policy(name: str, statements: list[dict]) -> dict:
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own answers in the contract's error shape (API.md), merged into Chalice's API
    definition so they deploy with it (a separate AWS::ApiGateway::GatewayResponse only takes effect
    at the next deployment). A path or method no route has is 404 NOT_FOUND instead of 403 "Missing
    Authentication Token", whose message quotes a hashed bearer key; other gateway errors keep their
    status. No template quotes the request, only API Gateway's own request id and error type."""
    from chalicelib.web import UNKNOWN_ROUTE_MESSAGE, error_body

    def answer(status: int | None, code: str, message: str) -> dict[str, Any]:
        response: dict[str, Any] = {
            "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                                   "gatewayresponse.header.X-Request-Id": "context.requestId"},
            "responseTemplates": {"application/json": json.dumps(error_body(code, message, [], "$context.requestId"))}}
        return response if status is None else {"statusCode": status, **response}

    return {
        "MISSING_AUTHENTICATION_TOKEN": answer(404, "NOT_FOUND", UNKNOWN_ROUTE_MESSAGE),
        "REQUEST_TOO_LARGE": answer(413, "PAYLOAD_TOO_LARGE", "the request is larger than API Gateway accepts; "
                                                               "upload large files through POST /v1/traces/uploads"),
        "UNSUPPORTED_MEDIA_TYPE": answer(415, "UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type"),
        "THROTTLED": answer(429, "RATE_LIMITED", "too many requests; retry after a short wait"),
        "QUOTA_EXCEEDED": answer(429, "RATE_LIMITED", "request quota exceeded"),
        "INTEGRATION_TIMEOUT": answer(504, "INTERNAL", "the request took longer than API Gateway's 29 s limit"),
        "DEFAULT_4XX": answer(None, "REQUEST_REJECTED", "API Gateway refused the request ($context.error.responseType)"),
        "DEFAULT_5XX": answer(None, "INTERNAL", "API Gateway failed ($context.error.responseType); "
                                                "quote the request id when reporting it"),
    }


def _trust(service: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def write(stage: str, build_dir: Path = BUILD_DIR) -> Path:
    """Write the merge template to ``<build_dir>/<stage>/merge.json``; its path."""
    folder = build_dir / stage
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "merge.json"
    path.write_text(json.dumps(build(stage), indent=2))
    return path


def package(stage: str, *, project: Path = ROOT, build_dir: Path = BUILD_DIR) -> Path:
    """``chalice package`` (offline once requirements.txt's layer is cached) merged with our template
    → ``<build_dir>/<stage>/sam.json``, ``deployment.zip`` (app code) and ``layer-deployment.zip``
    (dependencies), all kept; the template's path. Chalice's shared DefaultRole is dropped: every
    function has its own role."""
    merge = write(stage, build_dir)
    folder = merge.parent
    out = folder / "chalice"
    shutil.rmtree(out, ignore_errors=True)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    result = subprocess.run([str(bin_dir / "chalice"), "package", "--stage", stage, "--merge-template", str(merge),
                             str(out)], cwd=project, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    template = json.loads((out / "sam.json").read_text())
    drop_unused_default_role(template)
    (folder / "sam.json").write_text(json.dumps(template, indent=2))
    for artifact in out.glob("*.zip"):  # deployment.zip (app code) and layer-deployment.zip (dependencies)
        artifact.replace(folder / artifact.name)
    shutil.rmtree(out)
    return folder / "sam.json"


def drop_unused_default_role(template: dict) -> None:
    """Remove Chalice's DefaultRole once no function refers to it (fail if one still does)."""
    text = json.dumps({k: v for k, v in template["Resources"].items() if k != "DefaultRole"})
    if '"DefaultRole"' in text:
        raise RuntimeError("a function still uses Chalice's DefaultRole: declare it in infra/resources.py FUNCTIONS")
    template["Resources"].pop("DefaultRole", None)


def lint(template: Path) -> int:
    """cfn-lint on the packaged template, statelint on every state machine; 0 when clean."""
    bin_dir = Path(sys.executable).parent
    result = subprocess.run([str(bin_dir / "cfn-lint"), str(template), "--regions", "us-east-1"],
                            capture_output=True, text=True)
    if result.returncode:
        print(result.stdout + result.stderr)
        return result.returncode
    for sm in resources.STATE_MACHINES:
        problems = statelint(sm.path)
        if problems:
            print(problems)
            return 1
    return 0


# Fields statelint 3.1.0 does not know yet, which AWS (and cfn-lint's schema) accept: an ItemReader's
# ReaderConfig InputType (JSON, CSV, JSONL, MANIFEST) and the CSV header settings.
STATELINT_UNKNOWN = {"ReaderConfig": ("InputType", "CSVHeaderLocation", "CSVHeaders", "CSVDelimiter")}


def statelint_view(doc: Any) -> Any:
    """The ASL document without the fields statelint does not know (STATELINT_UNKNOWN)."""
    if isinstance(doc, list):
        return [statelint_view(x) for x in doc]
    if not isinstance(doc, dict):
        return doc
    return {k: ({f: x for f, x in statelint_view(v).items() if f not in STATELINT_UNKNOWN[k]}
                if k in STATELINT_UNKNOWN and isinstance(v, dict) else statelint_view(v)) for k, v in doc.items()}


def statelint(path: Path) -> str:
    """statelint's problems with one ASL file ("" when none)."""
    import tempfile

    bin_dir = Path(sys.executable).parent
    with tempfile.NamedTemporaryFile("w", suffix=".asl.json") as view:
        json.dump(statelint_view(json.loads(path.read_text())), view)
        view.flush()
        result = subprocess.run([str(bin_dir / "statelint"), view.name], capture_output=True, text=True)
    return "" if not result.returncode and not result.stdout.strip() else result.stdout + result.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument("--package", "--check", action="store_true",
                        help="package with chalice into infra/build/<stage>/ and lint the result")
    args = parser.parse_args(argv)
    if not args.package:
        print(write(args.stage))
        return 0
    template = package(args.stage)
    status = lint(template)
    if status == 0:
        print(f"{template} and {template.parent / 'deployment.zip'}: packaged, cfn-lint and statelint clean")
    return status


if __name__ == "__main__":
    sys.exit(main())
