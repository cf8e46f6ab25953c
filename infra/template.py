"""The AWS deployment, declared from infra/resources.py: a template merged into Chalice's
(``chalice package --merge-template``), so tables, the bucket, the KMS key, the state machines
and the roles come from the same definitions the local stack creates in moto.

    python -m infra.template --stage dev            # writes infra/build/dev.json
    python -m infra.template --stage dev --check    # + chalice package, cfn-lint, statelint
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra import resources

BUILD_DIR = Path(__file__).parent / "build"
ROOT = Path(__file__).resolve().parents[1]


def camel(name: str) -> str:
    """Chalice's logical id for a function name (``import_page`` → ``ImportPage``)."""
    return "".join(part.capitalize() for part in name.split("_"))


def build(stage: str) -> dict[str, Any]:
    """The merge template for one stage."""
    prefix = f"iofold-{stage}"
    out: dict[str, Any] = {}
    table_arns = []
    for table in resources.TABLES:
        logical = "Table" + camel(table.name)
        props: dict[str, Any] = {
            "TableName": f"{prefix}-{table.name}", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": table.key_schema(), "AttributeDefinitions": table.attribute_definitions(),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        }
        if table.indexes:
            props["GlobalSecondaryIndexes"] = table.global_secondary_indexes()
        out[logical] = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                        "UpdateReplacePolicy": "Retain", "Properties": props}
        table_arns += [{"Fn::GetAtt": [logical, "Arn"]}, {"Fn::Sub": f"${{{logical}.Arn}}/index/*"}]
    out["DataBucket"] = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                         "Properties": {
        "BucketName": {"Fn::Sub": f"{prefix}-${{AWS::AccountId}}-data"},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        # the dashboard PUTs large trace files to presigned URLs (the signature is the permission)
        "CorsConfiguration": {"CorsRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"],
                                             "AllowedHeaders": ["Content-Type"], "MaxAge": 600}]}}}
    out["CredentialsKey"] = {"Type": "AWS::KMS::Key", "Properties": {
        "Description": "iofold third-party credentials (envelope encryption)", "EnableKeyRotation": True,
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*", "Resource": "*"}]}}}
    out["CredentialsKeyAlias"] = {"Type": "AWS::KMS::Alias", "Properties": {
        "AliasName": f"alias/{prefix}-credentials", "TargetKeyId": {"Ref": "CredentialsKey"}}}

    task_functions = sorted({f for sm in resources.STATE_MACHINES for f in sm.functions})
    out["StatesRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _trust("states.amazonaws.com"),
        "Policies": [{"PolicyName": "invoke-tasks", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction",
            "Resource": [{"Fn::GetAtt": [camel(f), "Arn"]} for f in task_functions]}]}}]}}
    machine_arns = []
    for sm in resources.STATE_MACHINES:
        logical = "StateMachine" + camel(sm.name)
        definition = json.loads(sm.path.read_text())
        definition["TimeoutSeconds"] = sm.timeout_seconds
        out[logical] = {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
            "StateMachineName": f"{prefix}-{sm.name}", "RoleArn": {"Fn::GetAtt": ["StatesRole", "Arn"]},
            "Definition": definition,
            "DefinitionSubstitutions": {f"Fn_{f}": {"Fn::GetAtt": [camel(f), "Arn"]} for f in sm.functions}}}
        machine_arns.append({"Ref": logical})

    out["AppPolicy"] = {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "iofold-app", "Roles": [{"Ref": "DefaultRole"}],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                           "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchGetItem",
                                           "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
                                           "dynamodb:DescribeTable"], "Resource": table_arns},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": {"Fn::Sub": "${DataBucket.Arn}/*"}},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": {"Fn::GetAtt": ["DataBucket", "Arn"]}},
            # uploads: the API presigns PUTs under uploads/ (a presigned URL carries its signer's rights);
            # upload_prepare writes prepared files under jobs/ as multipart uploads and aborts them on error
            {"Sid": "PresignedUploads", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
             "Resource": {"Fn::Sub": "${DataBucket.Arn}/uploads/*"}},
            {"Sid": "PreparedUploads", "Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
             "Resource": {"Fn::Sub": "${DataBucket.Arn}/jobs/*"}},
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
             "Resource": {"Fn::GetAtt": ["CredentialsKey", "Arn"]}},
            {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": machine_arns},
            {"Effect": "Allow", "Action": ["states:DescribeExecution", "states:StopExecution"],
             "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:{prefix}-*"}},
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": ["Sandbox", "Arn"]}},
            {"Effect": "Allow", "Action": ["scheduler:CreateSchedule", "scheduler:UpdateSchedule",
                                           "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
             "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule/default/{prefix}-*"}},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": {"Fn::GetAtt": ["SchedulerRole", "Arn"]}},
        ]}}}
    out["SchedulerRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": f"{prefix}-scheduler", "AssumeRolePolicyDocument": _trust("scheduler.amazonaws.com"),
        "Policies": [{"PolicyName": "invoke-scheduled-import", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": ["ScheduledImport", "Arn"]}}]}}]}}
    # The sandbox: its own role with nothing beyond its logs, capped concurrency (SECURITY.md).
    out["SandboxRole"] = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": _trust("lambda.amazonaws.com"),
        "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}]}}
    out["Sandbox"] = {"Properties": {"Role": {"Fn::GetAtt": ["SandboxRole", "Arn"]}, "MemorySize": 512,
                                     "Timeout": 300, "ReservedConcurrentExecutions": 10,
                                     "Environment": {"Variables": {"IOFOLD_SANDBOX_REQUIRE": "seccomp,landlock"}}}}
    return {"Resources": out}


def _trust(service: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def write(stage: str) -> Path:
    BUILD_DIR.mkdir(exist_ok=True)
    path = BUILD_DIR / f"{stage}.json"
    path.write_text(json.dumps(build(stage), indent=2))
    return path


def check(stage: str) -> int:
    """Package with Chalice (offline), then lint the merged template and the state machines."""
    extra = write(stage)
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as out:
        env = {"AWS_DEFAULT_REGION": "us-east-1", "PATH": f"{bin_dir}:/usr/bin:/bin"}
        subprocess.run([str(bin_dir / "chalice"), "package", "--stage", stage, "--merge-template", str(extra), out],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        lint = subprocess.run([str(bin_dir / "cfn-lint"), f"{out}/sam.json", "--regions", "us-east-1"],
                              capture_output=True, text=True)
        print(lint.stdout + lint.stderr)
        if lint.returncode not in (0, 4):  # 4: informational/warnings only
            return lint.returncode
    for sm in resources.STATE_MACHINES:
        result = subprocess.run([str(bin_dir / "statelint"), str(sm.path)], capture_output=True, text=True)
        if result.returncode or result.stdout.strip():
            print(result.stdout + result.stderr)
            return 1
    print(f"{extra}: packaged and linted")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument("--check", action="store_true", help="package with chalice and lint the result")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.stage)
    print(write(args.stage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
