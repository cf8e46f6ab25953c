"""The AWS template is built from the same declarations as the local stack, packages with
Chalice offline into infra/build/<stage>/ and passes cfn-lint and statelint; every function's
environment names its resources by reference and its own role grants only what it declares."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.config import is_resource_var
from chalicelib import observability
from infra import monitoring, rehearse, resources, template

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
REFERENCES = {"Ref", "Fn::GetAtt", "Fn::Sub"}


def test_merge_template_declares_every_table_and_state_machine_without_fixed_names():
    built = template.build("dev")["Resources"]
    tables = [r["Properties"] for r in built.values() if r.get("Type") == "AWS::DynamoDB::Table"]
    assert len(tables) == len(resources.TABLES) and not any("TableName" in t for t in tables)
    assert "BucketName" not in built["DataBucket"]["Properties"]
    machines = {k: r["Properties"] for k, r in built.items() if r.get("Type") == "AWS::StepFunctions::StateMachine"}
    assert set(machines) == {template.state_machine_id(sm.name) for sm in resources.STATE_MACHINES}
    for props in machines.values():
        text = json.dumps(props["Definition"])
        for name in props["DefinitionSubstitutions"]:
            assert "${" + name + "}" in text


def test_execute_is_a_distributed_map_reading_a_manifest_and_writing_results_with_its_concurrency_a_parameter():
    built = template.build("dev")
    definition = built["Resources"][template.state_machine_id("execute_eval")]["Properties"]["Definition"]
    run = definition["States"]["RunChunks"]
    assert run["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert run["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert run["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert run["ToleratedFailurePercentagePath"] and run["MaxConcurrencyPath"] == "$.max_concurrency"
    # the run's concurrency: the ExecuteMaxConcurrency parameter, through execute_prepare's settings
    assert "ExecuteMaxConcurrency" in built["Parameters"]
    variables = built["Resources"]["ExecutePrepare"]["Properties"]["Environment"]["Variables"]
    assert variables["IOFOLD_EXECUTE_MAX_CONCURRENCY"] == {"Fn::Sub": "${ExecuteMaxConcurrency}"}


def test_the_states_role_may_run_its_own_child_executions_and_the_job_files_by_reference():
    built = template.build("dev")["Resources"]
    policy = built["StatesSelfPolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "StatesRole"}]
    statements = {s["Action"] if isinstance(s["Action"], str) else s["Action"][0]: s
                  for s in policy["PolicyDocument"]["Statement"]}
    assert statements["states:StartExecution"]["Resource"] == [
        {"Ref": template.state_machine_id("execute_eval")}, {"Ref": template.state_machine_id("import_traces")}]
    described = json.dumps(statements["states:DescribeExecution"])
    assert "${StateMachineExecuteEval.Name}/*" in described and "StackName" not in described
    assert statements["s3:GetObject"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/jobs/*"}
    assert "s3:PutObject" in statements["s3:GetObject"]["Action"]


def test_the_data_bucket_lets_browsers_put_presigned_uploads_and_nothing_else():
    rules = template.build("dev")["Resources"]["DataBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [r["AllowedMethods"] for r in rules] == [["PUT"]]


def test_job_records_and_files_expire_after_a_configurable_retention():
    built = template.build("dev")
    res = built["Resources"]
    assert built["Parameters"][resources.JOB_RETENTION_PARAMETER]["Default"] == 30
    ttl = {t.name: res[template.table_id(t.name)]["Properties"].get("TimeToLiveSpecification")
           for t in resources.TABLES}
    assert {name: spec for name, spec in ttl.items() if spec} == {
        "jobs": {"AttributeName": "expires_at", "Enabled": True},
        "job_events": {"AttributeName": "expires_at", "Enabled": True},
        "eval_trends": {"AttributeName": "expires_at", "Enabled": True}}  # its run markers, not its counters
    rules = {r["Prefix"]: r for r in res["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert set(rules) == {"jobs/", "uploads/"} and all(r["Status"] == "Enabled" for r in rules.values())
    assert rules["jobs/"]["ExpirationInDays"] == {"Ref": resources.JOB_RETENTION_PARAMETER}
    assert rules["uploads/"]["ExpirationInDays"] == resources.UPLOAD_RETENTION_DAYS
    for fn in resources.FUNCTIONS:
        variables = res[template.logical_id(fn.name)]["Properties"]["Environment"]["Variables"]
        assert variables.get("IOFOLD_JOB_RETENTION_DAYS") == (
            {"Fn::Sub": "${JobRetentionDays}"} if "jobs" in fn.tables else None), fn.name


def test_cfn_lint_catches_a_broken_state_machine(tmp_path):
    doc = {"Resources": {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "Definition": {"StartAt": "A", "States": {"A": {"Type": "Tusk", "End": True}}}}}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = subprocess.run([CFN_LINT, str(path), "--regions", "us-east-1"], capture_output=True, text=True)
    assert result.returncode not in (0, 4), result.stdout


def test_gateway_answers_unknown_routes_with_a_404_in_the_contract_shape_that_quotes_nothing():
    responses = template.build("dev")["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == 404
    body = json.loads(missing["responseTemplates"]["application/json"])
    assert body["error"]["code"] == "NOT_FOUND" and body["error"]["request_id"] == "$context.requestId"
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response in responses.values():
        text = response["responseTemplates"]["application/json"]
        assert set(json.loads(text)) == {"error"}
        # only API Gateway's own values: nothing from the request (no $input, $context.error.message, headers)
        assert set(re.findall(r"\$[\w.]+", text)) <= {"$context.requestId", "$context.error.responseType"}


# --- the packaged template ----------------------------------------------------------------

@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    """``make package``'s function on a copy of the project, offline: the dependency layer (the only
    part that needs pip and the network) is primed with a stub; the app code zip is real."""
    project = tmp_path_factory.mktemp("project")
    for name in ("app.py", "requirements.txt"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    digest = hashlib.md5((project / "requirements.txt").read_bytes()).hexdigest()
    layer = project / ".chalice" / "deployments" / f"managed-layer-{digest}-python3.11.zip"
    layer.parent.mkdir()
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("python/lib/python3.11/site-packages/stub.txt", "dependencies are not part of this test")
    path = template.package("dev", project=project, build_dir=project / "build")
    assert {p.name for p in path.parent.iterdir()} >= {"sam.json", "deployment.zip", "layer-deployment.zip",
                                                       "merge.json"}
    with zipfile.ZipFile(path.parent / "deployment.zip") as zf:
        assert "app.py" in zf.namelist() and "chalicelib/config.py" in zf.namelist()
    return {"path": path, "template": json.loads(path.read_text())}


def _resources(packaged) -> dict:
    return packaged["template"]["Resources"]


def _role_statements(res: dict, role_id: str) -> list[dict]:
    """Every statement granted to a role: its inline policies and AWS::IAM::Policy resources on it."""
    role = res[role_id]["Properties"]
    docs = [p["PolicyDocument"] for p in role.get("Policies", [])]
    docs += [r["Properties"]["PolicyDocument"] for r in res.values()
             if r.get("Type") == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]]
    assert not role.get("ManagedPolicyArns"), role_id
    return [s for d in docs for s in d["Statement"]]


def _actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def _function_role(res: dict, fn: resources.Function) -> str:
    role = res[template.logical_id(fn.name)]["Properties"]["Role"]
    assert role == {"Fn::GetAtt": [f"{template.logical_id(fn.name)}Role", "Arn"]}, fn.name
    return role["Fn::GetAtt"][0]


@pytest.mark.slow
def test_packaged_template_passes_cfn_lint_and_statelint(packaged):
    assert template.lint(packaged["path"]) == 0


@pytest.mark.slow
def test_every_function_gets_exactly_its_declared_variables_by_reference(packaged):
    res = _resources(packaged)
    functions = {k for k, r in res.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == {template.logical_id(f.name) for f in resources.FUNCTIONS}
    for fn in resources.FUNCTIONS:
        props = res[template.logical_id(fn.name)]["Properties"]
        assert (props["Timeout"], props["MemorySize"]) == (fn.timeout_s, fn.memory_mb)
        variables = props["Environment"]["Variables"]
        assert {v for v in variables if is_resource_var(v)} == set(fn.env_vars()), fn.name
        for var, value in variables.items():
            if is_resource_var(var):
                assert isinstance(value, dict) and set(value) <= REFERENCES, (fn.name, var, value)
            elif var == observability.NAMESPACE_VAR:  # the metrics' namespace: one per stack
                assert value == monitoring.metrics_namespace(), (fn.name, value)
            elif var in fn.setting_vars():  # a setting from a template parameter
                assert value == {"Fn::Sub": "${" + template.SETTING_PARAMETERS[var] + "}"}, (fn.name, var, value)
            else:  # settings such as IOFOLD_STAGE: never a resource name or ARN spelled out
                assert isinstance(value, str) and not value.startswith("arn:") and "iofold-" not in value, (var, value)


@pytest.mark.slow
def test_no_function_environment_spells_a_resource_name_or_arn(packaged):
    for key, r in _resources(packaged).items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        for var, value in r["Properties"]["Environment"]["Variables"].items():
            if isinstance(value, str):
                text = value
                assert not text.startswith("arn:"), (key, var, text)
            elif "Fn::Sub" in value:  # only the text around ${…} references is literal
                text = re.sub(r"\$\{[^}]+\}", "", value["Fn::Sub"])
            else:
                continue
            assert not re.search(r"\d{12}|[a-z]{2}-[a-z]+-\d|iofold-|/aws/|:role/", text), (key, var, value)


@pytest.mark.slow
def test_api_role_starts_state_machines_but_cannot_invoke_lambda_or_read_the_llm_key(packaged):
    res = _resources(packaged)
    actions = _actions(_role_statements(res, _function_role(res, resources.function(resources.API_FUNCTION))))
    assert not any(a.startswith("lambda:") for a in actions)
    assert "secretsmanager:GetSecretValue" not in actions
    assert {"states:StartExecution", "states:DescribeExecution", "states:StopExecution", "kms:GenerateDataKey",
            "scheduler:CreateSchedule", "iam:PassRole", "s3:PutObject", "dynamodb:Query"} <= actions
    uploads = [s for s in _role_statements(res, "APIHandlerRole") if "s3:PutObject" in s["Action"]]
    assert any({"Fn::Sub": "${DataBucket.Arn}/uploads/*"} in s["Resource"] for s in uploads)


@pytest.mark.slow
def test_sandbox_role_reaches_only_its_log_group_network_interfaces_and_xray(packaged):
    res = _resources(packaged)
    statements = _role_statements(res, _function_role(res, resources.function("sandbox")))
    assert _actions(statements) == {"logs:CreateLogStream", "logs:PutLogEvents", "ec2:CreateNetworkInterface",
                                    "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                                    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
                                    *monitoring.XRAY_WRITE}  # its traces (X-Ray takes no resource)
    logs = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
    assert logs["Resource"] == {"Fn::GetAtt": ["SandboxLogGroup", "Arn"]}
    props = res["Sandbox"]["Properties"]
    assert props["Environment"]["Variables"]["IOFOLD_SANDBOX_PROFILE"] == "lambda"
    assert props["Environment"]["Variables"]["IOFOLD_SANDBOX_REQUIRE"] == "seccomp"
    assert props["ReservedConcurrentExecutions"]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    assert props["VpcConfig"]["SecurityGroupIds"]["Fn::If"][1] == [{"Ref": "SandboxSecurityGroup"}]


@pytest.mark.slow
def test_sandbox_network_has_no_route_out(packaged):
    res = _resources(packaged)
    types = {r["Type"] for r in res.values()}
    assert not types & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::VPCEndpoint",
                        "AWS::EC2::Route", "AWS::EC2::EgressOnlyInternetGateway", "AWS::EC2::VPCGatewayAttachment"}
    egress = res["SandboxSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [rule["CidrIp"] for rule in egress] == ["127.0.0.1/32"]


@pytest.mark.slow
def test_only_functions_that_run_untrusted_code_may_invoke_the_sandbox(packaged):
    res = _resources(packaged)
    sandbox_timeout = res["Sandbox"]["Properties"]["Timeout"]
    invokers = set()
    for fn in resources.FUNCTIONS:
        for s in _role_statements(res, _function_role(res, fn)):
            if "lambda:InvokeFunction" in s["Action"]:
                assert s["Resource"] == {"Fn::GetAtt": ["Sandbox", "Arn"]}
                invokers.add(fn.name)
                assert res[template.logical_id(fn.name)]["Properties"]["Timeout"] > sandbox_timeout
    assert invokers == {"execute_chunk", "generate_candidates", "generate_test", "generate_save"}


@pytest.mark.slow
def test_only_the_generation_function_reads_the_llm_secret(packaged):
    res = _resources(packaged)
    readers = {fn.name for fn in resources.FUNCTIONS
               if "secretsmanager:GetSecretValue" in _actions(_role_statements(res, _function_role(res, fn)))}
    assert readers == {"generate_candidates"}
    assert "SecretString" not in res["LlmSecret"]["Properties"]  # created empty: the user fills it


@pytest.mark.slow
def test_dashboard_is_a_private_bucket_behind_cloudfront(packaged):
    res = _resources(packaged)
    assert all(res["DashboardBucket"]["Properties"]["PublicAccessBlockConfiguration"].values())
    statement, = res["DashboardBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "${DashboardDistribution}" in statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    origin, = res["DashboardDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["DashboardOriginAccessControl", "Id"]}
    outputs = packaged["template"]["Outputs"]
    assert {"ApiUrl", "DashboardUrl", "DashboardBucket", "DataBucket", "SandboxFunction", "LlmSecretArn",
            "TableWorkspaces", "TableApiKeys", "EndpointURL"} <= set(outputs)
    assert "DefaultRole" not in res


@pytest.mark.slow
def test_packaged_template_carries_the_gateway_responses(packaged):
    api = packaged["template"]["Resources"]["RestAPI"]
    assert api["Type"] == "AWS::Serverless::Api"
    body = api["Properties"]["DefinitionBody"]
    assert body["paths"] and body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == 404


def test_periodic_functions_have_a_rate_rule_that_may_invoke_them(packaged):
    res = _resources(packaged)
    for name, expression in resources.PERIODIC_FUNCTIONS.items():
        lid = template.logical_id(name)
        rules = [r for r in res.values() if r["Type"] == "AWS::Events::Rule"
                 and r["Properties"]["Targets"] == [{"Id": lid, "Arn": {"Fn::GetAtt": [lid, "Arn"]}}]]
        assert [r["Properties"]["ScheduleExpression"] for r in rules] == [expression]
        permissions = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Lambda::Permission"
                       and r["Properties"]["FunctionName"] == {"Ref": lid}]
        assert [p["Principal"] for p in permissions] == ["events.amazonaws.com"]
    # the receiver writes spans, assembly reads them: both roles reach spans/, the sandbox nothing
    assert "spans/" in resources.function(resources.API_FUNCTION).bucket
    assert "spans/" in resources.function("otlp_assemble").bucket


# --- monitoring (infra/monitoring.py) -------------------------------------------------------

def _retained_log_group(res: dict, owner: str) -> dict:
    """The properties of ``<owner>LogGroup``, which keeps its events LogRetentionDays days."""
    props = res[f"{owner}LogGroup"]["Properties"]
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, owner
    return props


def _alarm_metrics(res: dict) -> dict[str, list[dict]]:
    """Alarm id → the metrics its expression sums (namespace, name, dimensions by name)."""
    return {k: [{"namespace": m["MetricStat"]["Metric"]["Namespace"], "name": m["MetricStat"]["Metric"]["MetricName"],
                 "dimensions": {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]}}
                for m in r["Properties"]["Metrics"] if "MetricStat" in m]
            for k, r in res.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _alarmed(res: dict, namespace, name: str, **dimensions) -> list[str]:
    return [k for k, metrics in _alarm_metrics(res).items()
            if any(m["namespace"] == namespace and m["name"] == name and m["dimensions"] == dimensions
                   for m in metrics)]


@pytest.mark.slow
def test_every_function_logs_to_a_group_with_retention_and_traces_actively(packaged):
    res = _resources(packaged)
    for fn in resources.FUNCTIONS:
        lid = template.logical_id(fn.name)
        props = res[lid]["Properties"]
        assert props["Tracing"] == "Active", fn.name
        assert _retained_log_group(res, lid)["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{lid}}}"}
        assert set(monitoring.XRAY_WRITE) <= _actions(_role_statements(res, _function_role(res, fn))), fn.name
        assert props["Environment"]["Variables"][observability.NAMESPACE_VAR] == monitoring.metrics_namespace()
    groups = {k: r for k, r in res.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    retention = packaged["template"]["Parameters"]["LogRetentionDays"]
    assert retention["Default"] in retention["AllowedValues"]


@pytest.mark.slow
def test_every_state_machine_logs_errors_without_execution_data_and_traces(packaged):
    res = _resources(packaged)
    for sm in resources.STATE_MACHINES:
        sid = template.state_machine_id(sm.name)
        props = res[sid]["Properties"]
        logging_config = props["LoggingConfiguration"]
        assert logging_config["IncludeExecutionData"] is False
        assert logging_config["Level"] == {"Ref": "StateMachineLogLevel"}
        [destination] = logging_config["Destinations"]
        assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": [f"{sid}LogGroup", "Arn"]}
        _retained_log_group(res, sid)
        assert props["TracingConfiguration"] == {"Enabled": True}
    level = packaged["template"]["Parameters"]["StateMachineLogLevel"]
    assert level["Default"] == "ERROR" and "OFF" not in level["AllowedValues"]
    actions = _actions(_role_statements(res, "StatesRole"))
    assert set(monitoring.LOG_DELIVERY) | set(monitoring.XRAY_WRITE) <= actions


@pytest.mark.slow
def test_the_api_writes_access_logs_and_traces(packaged):
    res = _resources(packaged)
    api = res["RestAPI"]["Properties"]
    assert api["TracingEnabled"] is True
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in json.loads(api["AccessLogSetting"]["Format"]).values()
    assert res["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert res["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}


@pytest.mark.slow
def test_alarms_cover_api_errors_executions_sandbox_and_throttles_of_this_stacks_resources(packaged):
    res = _resources(packaged)
    api = res["RestAPI"]["Properties"]
    assert _alarmed(res, "AWS/ApiGateway", "5XXError", ApiName=api["Name"], Stage=api["StageName"])
    for sm in resources.STATE_MACHINES:
        arn = {"Ref": template.state_machine_id(sm.name)}
        failed = _alarmed(res, "AWS/States", "ExecutionsFailed", StateMachineArn=arn)
        assert failed and failed == _alarmed(res, "AWS/States", "ExecutionsTimedOut", StateMachineArn=arn), sm.name
    # the EMF metrics, in the namespace and with the dimension chalicelib/observability.py emits them
    namespace = res["Sandbox"]["Properties"]["Environment"]["Variables"][observability.NAMESPACE_VAR]
    service = {"service": observability.SERVICE}
    assert _alarmed(res, namespace, observability.SANDBOX_FAILED_CLOSED, **service)
    assert _alarmed(res, namespace, observability.SANDBOX_VIOLATIONS, **service)
    for fn in resources.FUNCTIONS:
        assert _alarmed(res, "AWS/Lambda", "Throttles", FunctionName={"Ref": template.logical_id(fn.name)}), fn.name
    for table in resources.TABLES:
        name = {"TableName": {"Ref": template.table_id(table.name)}}
        assert _alarmed(res, "AWS/DynamoDB", "ReadThrottleEvents", **name), table.name
        assert _alarmed(res, "AWS/DynamoDB", "WriteThrottleEvents", **name), table.name
    for key, alarm in res.items():
        if alarm["Type"] == "AWS::CloudWatch::Alarm":
            props = alarm["Properties"]
            assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], key
            assert [m["Id"] for m in props["Metrics"] if m.get("ReturnData")] == ["total"], key
            assert rehearse.references(props) - {"AWS::StackName"} <= set(res), key
    assert res["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert res["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


@pytest.mark.slow
def test_the_dashboard_charts_this_stacks_resources_and_metrics(packaged):
    res = _resources(packaged)
    body = res["Dashboard"]["Properties"]["DashboardBody"]
    references = rehearse.references(body)
    assert references - {"AWS::StackName", "AWS::Region"} <= set(res)
    assert {template.state_machine_id(sm.name) for sm in resources.STATE_MACHINES} <= references
    assert {template.logical_id(fn.name) for fn in resources.FUNCTIONS} <= references
    widgets = json.loads(body["Fn::Sub"])["widgets"]
    charted = {m[1] for w in widgets for m in w["properties"]["metrics"]}
    assert {observability.TRACES_IMPORTED, observability.SANDBOX_FAILED_CLOSED, observability.GENERATION_COST,
            *observability.EXECUTIONS.values(), "5XXError", "ExecutionsFailed", "Throttles"} <= charted
