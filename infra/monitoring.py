"""What the template adds so the stack can be operated: log retention on every log group, X-Ray
on every function, the API and the state machines, state-machine logging, API access logs,
alarms to an SNS topic and a CloudWatch dashboard. ``infra/template.py`` calls :func:`add`
once its resources are built; the custom metrics named here are the ones
``chalicelib/observability.py`` emits (EMF, namespace per stack, dimension ``service``).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import observability
from infra import resources

PERIOD_S = 300
# CloudWatch Logs' accepted retention periods (days)
RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653]
XRAY_WRITE = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
              "xray:GetSamplingTargets"]  # what the AWSXRayDaemonWriteAccess managed policy grants
# Step Functions delivers its logs through CloudWatch Logs' vended-log API (these take no resource)
LOG_DELIVERY = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.resourcePath", "status": "$context.status",
    "length": "$context.responseLength", "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency", "error": "$context.error.responseType",
    "xrayTraceId": "$context.xrayTraceId"}, separators=(",", ":"))


def metrics_namespace() -> dict:
    """The custom metrics' namespace: one per stack (every function's POWERTOOLS_METRICS_NAMESPACE)."""
    return {"Fn::Sub": f"{observability.SERVICE}/${{AWS::StackName}}"}


def api_name() -> dict:
    return {"Fn::Sub": "${AWS::StackName}-api"}


def parameters() -> dict[str, Any]:
    return {
        "LogRetentionDays": {"Type": "Number", "Default": 30, "AllowedValues": RETENTION_DAYS,
                             "Description": "days every log group (functions, sandbox, state machines, API "
                                            "access logs) keeps its events"},
        "AlarmEmail": {"Type": "String", "Default": "",
                       "Description": "an address the alarm topic mails (it must confirm); empty = no subscription"},
        "StateMachineLogLevel": {"Type": "String", "Default": "ERROR", "AllowedValues": ["ALL", "ERROR", "FATAL"],
                                 "Description": "what the state machines log (never their execution data)"},
        "ApiGatewayAccountLogging": {
            "Type": "String", "Default": "true", "AllowedValues": ["true", "false"],
            "Description": "set the region's API Gateway CloudWatch role (needed once per account and region for "
                           "access logs); false when another stack already does"},
    }


def conditions() -> dict[str, Any]:
    return {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            "SetApiGatewayAccount": {"Fn::Equals": [{"Ref": "ApiGatewayAccountLogging"}, "true"]}}


def add(out: dict[str, Any], stage: str) -> None:
    """Add monitoring to the merge template's resources ``out`` (built by infra/template.py)."""
    from infra import template as t

    for fn in resources.FUNCTIONS:
        lid = t.logical_id(fn.name)
        props = out[lid]["Properties"]
        props["Tracing"] = "Active"
        props["Environment"]["Variables"][observability.NAMESPACE_VAR] = metrics_namespace()
        role = out[f"{lid}Role"]["Properties"]
        role.setdefault("Policies", []).append(t._policy("xray-write", [t._allow(XRAY_WRITE, "*")]))

    for sm in resources.STATE_MACHINES:
        sid = t.state_machine_id(sm.name)
        out[f"{sid}LogGroup"] = {"Type": "AWS::Logs::LogGroup", "Properties": {
            # the /aws/vendedlogs/ prefix keeps Step Functions from growing the account's log resource policy
            "LogGroupName": t._sub(f"/aws/vendedlogs/states/${{AWS::StackName}}-{sm.name}")}}
        out[sid]["Properties"].update(
            LoggingConfiguration={"Level": {"Ref": "StateMachineLogLevel"}, "IncludeExecutionData": False,
                                  "Destinations": [{"CloudWatchLogsLogGroup": {
                                      "LogGroupArn": {"Fn::GetAtt": [f"{sid}LogGroup", "Arn"]}}}]},
            TracingConfiguration={"Enabled": True})
    out["StatesRole"]["Properties"]["Policies"].append(t._policy("logs-and-traces", [
        t._allow(LOG_DELIVERY, "*"), t._allow(XRAY_WRITE, "*")]))

    out.update(_api_logging())
    api = out["RestAPI"]["Properties"]
    api.update(Name=api_name(), TracingEnabled=True, AccessLogSetting={
        "DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}, "Format": ACCESS_LOG_FORMAT})

    for resource in out.values():  # every log group, including ones added later
        if resource.get("Type") == "AWS::Logs::LogGroup":
            resource["Properties"]["RetentionInDays"] = {"Ref": "LogRetentionDays"}

    out["AlarmTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {
        "DisplayName": t._sub("${AWS::StackName} alarms")}}
    out["AlarmEmailSubscription"] = {"Type": "AWS::SNS::Subscription", "Condition": "HasAlarmEmail", "Properties": {
        "TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}}
    out.update(alarms(stage))
    out["Dashboard"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": t._sub("${AWS::StackName}"), "DashboardBody": dashboard_body(stage)}}


def _api_logging() -> dict[str, Any]:
    from infra import template as t

    return {
        "ApiAccessLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": t._sub("/aws/apigateway/${AWS::StackName}-access")}},
        "ApiGatewayCloudWatchRole": {"Type": "AWS::IAM::Role", "Condition": "SetApiGatewayAccount", "Properties": {
            "AssumeRolePolicyDocument": t._trust("apigateway.amazonaws.com"),
            "ManagedPolicyArns": [t._sub(
                "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")]}},
        "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", "Condition": "SetApiGatewayAccount",
                              "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}}},
    }


def _metric(ident: str, namespace: Any, name: str, dimensions: dict[str, Any]) -> dict[str, Any]:
    return {"Id": ident, "ReturnData": False, "MetricStat": {"Period": PERIOD_S, "Stat": "Sum", "Metric": {
        "Namespace": namespace, "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}}}


def _alarm(description: str, metrics: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """An alarm on the sum of ``metrics`` over one period reaching ``threshold``, to the alarm topic."""
    expression = " + ".join(f"FILL({m['Id']}, 0)" for m in metrics)
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "AlarmActions": [{"Ref": "AlarmTopic"}],
        "OKActions": [{"Ref": "AlarmTopic"}],
        "Metrics": [*metrics, {"Id": "total", "Expression": expression, "Label": description, "ReturnData": True}],
        "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}}


def alarms(stage: str) -> dict[str, Any]:
    """API 5xx, failed or timed-out executions per state machine, the sandbox failing closed or
    breaking a wall, Lambda throttles per function, DynamoDB throttles per table."""
    from infra import template as t

    service = {"service": observability.SERVICE}
    out = {"ApiServerErrorsAlarm": _alarm("the API answered 5xx", [
        _metric("errors", "AWS/ApiGateway", "5XXError", {"ApiName": api_name(), "Stage": stage})], 5)}
    for sm in resources.STATE_MACHINES:
        arn = {"StateMachineArn": {"Ref": t.state_machine_id(sm.name)}}
        out[f"{t.state_machine_id(sm.name)}FailedAlarm"] = _alarm(f"{sm.name} executions failed or timed out", [
            _metric("failed", "AWS/States", "ExecutionsFailed", arn),
            _metric("timedout", "AWS/States", "ExecutionsTimedOut", arn)], 1)
    out["SandboxFailedClosedAlarm"] = _alarm("the sandbox failed closed or a child broke a wall", [
        _metric("closed", metrics_namespace(), observability.SANDBOX_FAILED_CLOSED, service),
        _metric("violations", metrics_namespace(), observability.SANDBOX_VIOLATIONS, service)], 1)
    for fn in resources.FUNCTIONS:
        lid = t.logical_id(fn.name)
        out[f"{lid}ThrottlesAlarm"] = _alarm(f"{fn.name} invocations throttled", [
            _metric("throttles", "AWS/Lambda", "Throttles", {"FunctionName": {"Ref": lid}})], 5)
    for table in resources.TABLES:
        tid = t.table_id(table.name)
        name = {"TableName": {"Ref": tid}}
        out[f"{tid}ThrottlesAlarm"] = _alarm(f"{table.name} table requests throttled", [
            _metric("reads", "AWS/DynamoDB", "ReadThrottleEvents", name),
            _metric("writes", "AWS/DynamoDB", "WriteThrottleEvents", name)], 5)
    return out


def dashboard_body(stage: str) -> dict:
    """The dashboard's JSON as one Fn::Sub: ``${...}`` are the stack's own resources."""
    from infra import template as t

    ns = metrics_namespace()["Fn::Sub"]
    svc = ["service", observability.SERVICE]

    def custom(*names: str) -> list[list[Any]]:
        return [[ns, name, *svc] for name in names]

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum") -> dict[str, Any]:
        return {"type": "metric", "width": 12, "height": 6, "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": PERIOD_S, "view": "timeSeries",
            "metrics": metrics}}

    api = ["ApiName", api_name()["Fn::Sub"], "Stage", stage]
    machines = [(sm.name, "${" + t.state_machine_id(sm.name) + "}") for sm in resources.STATE_MACHINES]
    functions = [t.logical_id(fn.name) for fn in resources.FUNCTIONS]
    widgets = [
        widget("API requests and errors", [["AWS/ApiGateway", m, *api] for m in ("Count", "4XXError", "5XXError")]),
        widget("API latency (p90, ms)", [["AWS/ApiGateway", "Latency", *api]], stat="p90"),
        widget("Traces imported", custom(observability.TRACES_IMPORTED, observability.TRACES_IMPORT_FAILED)),
        widget("Executions by result", custom(*observability.EXECUTIONS.values())),
        widget("Sandbox", custom(observability.SANDBOX_FAILED_CLOSED, observability.SANDBOX_VIOLATIONS,
                                 observability.SANDBOX_FAILURES)),
        widget("Generation cost (USD) and duration (s)", [
            *custom(observability.GENERATION_COST),
            [ns, observability.GENERATION_DURATION, *svc, {"stat": "Average", "yAxis": "right"}]]),
        widget("State machine executions failed / timed out", [
            ["AWS/States", m, "StateMachineArn", arn, {"label": f"{name} {m}"}]
            for name, arn in machines for m in ("ExecutionsFailed", "ExecutionsTimedOut")]),
        widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", "${" + f + "}"] for f in functions]),
        widget("Lambda throttles", [["AWS/Lambda", "Throttles", "FunctionName", "${" + f + "}"] for f in functions]),
        widget("DynamoDB throttled reads + writes", [
            ["AWS/DynamoDB", m, "TableName", "${" + t.table_id(table.name) + "}"]
            for table in resources.TABLES for m in ("ReadThrottleEvents", "WriteThrottleEvents")]),
        widget("Task errors", custom(observability.TASK_ERRORS)),
    ]
    return {"Fn::Sub": json.dumps({"widgets": widgets}, separators=(",", ":"))}
