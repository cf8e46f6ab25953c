"""Resource types moto's CloudFormation lacks, added for the rehearsal.

moto's CloudFormation skips a type it has no model for, with a warning: every ``Ref`` or
``GetAtt`` to it then resolves to nothing and the property holding it silently disappears (a
function's environment variable included), which would hide exactly what the rehearsal is for.
So each lacking type gets a model here: where moto has the service, the model creates the
resource through that service's API on the same moto server, from the template's own
properties (references already resolved by moto's CloudFormation); otherwise it records the
resource as not emulated and answers references with visible placeholders.

This extends moto's internals (its CloudFormationModel registry): moto is pinned, and
tests/infra/test_cfn_models.py is the canary.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterable
from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel

_endpoint: dict[str, str] = {}


def native_types() -> set[str]:
    """The types moto's CloudFormation creates by itself (models registered here excluded)."""
    return {m.cloudformation_type() for m in CloudFormationModel.__subclasses__()
            if not issubclass(m, _Emulated)} - {m.TYPE for m in EMULATED if m.REPLACES_NATIVE}


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=_endpoint["url"], region_name=_endpoint["region"])


class _Emulated:
    """A resource created by the rehearsal; ``Ref`` is its physical id, ``GetAtt`` reads ``attrs``.
    Concrete models also derive from CloudFormationModel directly: moto lists its direct subclasses."""

    TYPE = ""
    NAME_PROPERTY = ""
    ATTRS: tuple[str, ...] = ()
    HOW = ""  # for the rehearsal's report
    REPLACES_NATIVE = False  # moto has a model for the type, but one that cannot create this resource

    def __init__(self, physical_id: str, attrs: dict[str, Any]):
        self._physical_id = physical_id
        self.attrs = attrs

    @classmethod
    def cloudformation_type(cls) -> str:  # type: ignore[override]
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:  # type: ignore[override]
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRS

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.attrs:
            raise UnformattedGetAttTemplateException()
        return self.attrs[attribute_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,  # type: ignore[override]
                                        region_name: str, **kwargs: Any) -> "_Emulated":
        from botocore.exceptions import BotoCoreError, ClientError
        from moto.cloudformation.exceptions import ValidationError

        logical_id = kwargs["LogicalId"]
        try:
            physical, attrs = cls.create(resource_name, cloudformation_json.get("Properties") or {}, logical_id)
        except (BotoCoreError, ClientError, KeyError, TypeError, ValueError) as exc:
            # on AWS the stack would fail on this resource: say which and why instead of a bare 500
            raise ValidationError(message=f"{logical_id} ({cls.TYPE}) failed: {type(exc).__name__}: {exc}") from exc
        return cls(physical, attrs)

    @classmethod
    def create(cls, name: str, props: dict[str, Any], logical_id: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def is_created(self) -> bool:
        return True


def _picked(props: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The template properties among ``keys`` that are set, passed to the API as they are."""
    return {k: props[k] for k in keys if k in props}


def _id(value: Any) -> str:
    """A resolved ``Ref``: moto's Deployment model has no physical id, so its Ref is the object itself."""
    return value if isinstance(value, str) else value.id


class ApiGatewayStage(_Emulated, CloudFormationModel):
    TYPE, NAME_PROPERTY = "AWS::ApiGateway::Stage", "StageName"
    HOW = "emulated: apigateway CreateStage (and moto's Deployment has no Ref: its id is used)"

    @classmethod
    def create(cls, name, props, logical_id):
        kwargs = {"restApiId": _id(props["RestApiId"]), "stageName": props["StageName"],
                  "deploymentId": _id(props["DeploymentId"])}
        if props.get("Variables"):
            kwargs["variables"] = props["Variables"]
        _client("apigateway").create_stage(**kwargs)
        return props["StageName"], {}


class SecretsManagerSecret(_Emulated, CloudFormationModel):
    TYPE, NAME_PROPERTY, ATTRS = "AWS::SecretsManager::Secret", "Name", ("Id",)
    HOW = "emulated: secretsmanager CreateSecret"

    @classmethod
    def create(cls, name, props, logical_id):
        value = props.get("SecretString")
        spec = props.get("GenerateSecretString")
        if value is None and spec is not None:  # CloudFormation generates the value
            alphabet = "".join(c for c in string.ascii_letters + string.digits
                               if c not in spec.get("ExcludeCharacters", ""))
            value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
            if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
                value = json.dumps({**json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]: value})
        # neither: an empty secret (no AWSCURRENT version), as CloudFormation creates it
        kwargs: dict[str, Any] = {"Name": props.get("Name") or name}
        if value is not None:
            kwargs["SecretString"] = value
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("KmsKeyId"):
            kwargs["KmsKeyId"] = props["KmsKeyId"]
        arn = _client("secretsmanager").create_secret(**kwargs)["ARN"]
        return arn, {"Id": arn}


class SchedulerScheduleGroup(_Emulated, CloudFormationModel):
    TYPE, NAME_PROPERTY, ATTRS = "AWS::Scheduler::ScheduleGroup", "Name", ("Arn",)
    HOW = "emulated: scheduler CreateScheduleGroup"

    @classmethod
    def create(cls, name, props, logical_id):
        group = props.get("Name") or name
        arn = _client("scheduler").create_schedule_group(Name=group)["ScheduleGroupArn"]
        return group, {"Arn": arn}


class SchedulerSchedule(_Emulated, CloudFormationModel):
    TYPE, NAME_PROPERTY, ATTRS = "AWS::Scheduler::Schedule", "Name", ("Arn",)
    HOW = "emulated: scheduler CreateSchedule"

    @classmethod
    def create(cls, name, props, logical_id):
        kwargs = _picked(props, ("GroupName", "ScheduleExpression", "FlexibleTimeWindow", "Target", "State",
                                 "Description", "ScheduleExpressionTimezone"))
        arn = _client("scheduler").create_schedule(Name=props.get("Name") or name, **kwargs)["ScheduleArn"]
        return props.get("Name") or name, {"Arn": arn}


class S3BucketPolicy(_Emulated, CloudFormationModel):
    TYPE, HOW = "AWS::S3::BucketPolicy", "emulated: s3 PutBucketPolicy"

    @classmethod
    def create(cls, name, props, logical_id):
        _client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        return props["Bucket"], {}


class EC2SecurityGroupEgress(_Emulated, CloudFormationModel):
    TYPE, HOW = "AWS::EC2::SecurityGroupEgress", "emulated: ec2 AuthorizeSecurityGroupEgress"

    @classmethod
    def create(cls, name, props, logical_id):
        permission: dict[str, Any] = {"IpProtocol": str(props.get("IpProtocol", "-1"))}
        for key in ("FromPort", "ToPort"):
            if key in props:
                permission[key] = int(props[key])
        if props.get("CidrIp"):
            permission["IpRanges"] = [{"CidrIp": props["CidrIp"]}]
        if props.get("DestinationSecurityGroupId"):
            permission["UserIdGroupPairs"] = [{"GroupId": props["DestinationSecurityGroupId"]}]
        _client("ec2").authorize_security_group_egress(GroupId=props["GroupId"], IpPermissions=[permission])
        return f"{props['GroupId']}-egress-{logical_id}", {}


class ApiGatewayRestApi(_Emulated, CloudFormationModel):
    """moto's own RestApi model ignores ``Body`` (and its import takes OpenAPI 3 only, not the
    Swagger 2.0 Chalice writes), leaving an API with no methods that no Deployment accepts: this
    one creates the resources, methods and integrations of the Body's paths through the API."""

    TYPE, NAME_PROPERTY, ATTRS = "AWS::ApiGateway::RestApi", "Name", ("RootResourceId",)
    HOW = "emulated: apigateway CreateRestApi + a resource, method and integration per Body path"
    REPLACES_NATIVE = True

    @classmethod
    def create(cls, name, props, logical_id):
        client = _client("apigateway")
        body = props.get("Body") or {}
        api = client.create_rest_api(name=props.get("Name") or (body.get("info") or {}).get("title") or name,
                                     description=props.get("Description", ""))
        ids = {"/": next(r["id"] for r in client.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")}
        for path in sorted(body.get("paths") or {}):
            parent = "/"
            for part in [p for p in path.split("/") if p]:
                current = parent.rstrip("/") + "/" + part
                if current not in ids:
                    ids[current] = client.create_resource(restApiId=api["id"], parentId=ids[parent], pathPart=part)["id"]
                parent = current
            for method, spec in body["paths"][path].items():
                if method.startswith("x-"):
                    continue
                http_method = method.upper()
                client.put_method(restApiId=api["id"], resourceId=ids[parent], httpMethod=http_method,
                                  authorizationType="NONE")
                integration = spec.get("x-amazon-apigateway-integration") or {}
                if integration:
                    client.put_integration(restApiId=api["id"], resourceId=ids[parent], httpMethod=http_method,
                                           type=integration.get("type", "aws_proxy").upper(),
                                           integrationHttpMethod=integration.get("httpMethod", "POST"),
                                           uri=integration.get("uri", ""))
        return api["id"], {"RootResourceId": ids["/"]}


class StepFunctionsStateMachine(_Emulated, CloudFormationModel):
    """moto's own model creates the machine in the backend its ASL interpreter does not read (so
    StartExecution says it does not exist), reads only ``DefinitionString`` and ignores
    ``DefinitionSubstitutions``: this one goes through the Step Functions API and substitutes
    as CloudFormation does."""

    TYPE, NAME_PROPERTY, ATTRS = "AWS::StepFunctions::StateMachine", "StateMachineName", ("Arn", "Name")
    HOW = "emulated: stepfunctions CreateStateMachine with DefinitionSubstitutions applied"
    REPLACES_NATIVE = True

    @classmethod
    def create(cls, name, props, logical_id):
        text = props.get("DefinitionString") or json.dumps(props.get("Definition") or {})
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(value))
        kwargs: dict[str, Any] = {"name": props.get("StateMachineName") or name, "definition": text,
                                  "roleArn": props["RoleArn"]}
        if props.get("StateMachineType"):
            kwargs["type"] = props["StateMachineType"]
        if props.get("LoggingConfiguration"):
            kwargs["loggingConfiguration"] = _lower_first(props["LoggingConfiguration"])
        if props.get("TracingConfiguration"):
            kwargs["tracingConfiguration"] = _lower_first(props["TracingConfiguration"])
        arn = _client("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
        return arn, {"Arn": arn, "Name": kwargs["name"]}


class LambdaLayerVersion(_Emulated, CloudFormationModel):
    """moto's own model has no physical id, so ``Ref`` (the layer version's ARN on AWS) is an object."""

    TYPE, NAME_PROPERTY = "AWS::Lambda::LayerVersion", "LayerName"
    HOW = "emulated: lambda PublishLayerVersion (moto's own has no Ref)"
    REPLACES_NATIVE = True

    @classmethod
    def create(cls, name, props, logical_id):
        kwargs = {"LayerName": props.get("LayerName") or name, "Content": props["Content"],
                  **_picked(props, ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"))}
        arn = _client("lambda").publish_layer_version(**kwargs)["LayerVersionArn"]
        return arn, {}


class LambdaFunction(_Emulated, CloudFormationModel):
    """moto's own model drops ``Layers`` (and Architectures, TracingConfig): the function would
    run without its dependencies. This one creates it through the Lambda API with every property."""

    TYPE, NAME_PROPERTY, ATTRS = "AWS::Lambda::Function", "FunctionName", ("Arn",)
    HOW = "emulated: lambda CreateFunction with every property (moto's own drops Layers)"
    REPLACES_NATIVE = True
    _PASSED = ("Runtime", "Role", "Handler", "Code", "Description", "Timeout", "MemorySize", "Environment",
               "VpcConfig", "Layers", "Architectures", "TracingConfig", "DeadLetterConfig", "KMSKeyArn",
               "EphemeralStorage", "PackageType", "ImageConfig", "LoggingConfig")

    @classmethod
    def create(cls, name, props, logical_id):
        kwargs = _picked(props, cls._PASSED)
        kwargs["FunctionName"] = props.get("FunctionName") or name
        if "ZipFile" in kwargs.get("Code", {}):
            import io
            import zipfile

            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                zf.writestr("index.py", kwargs["Code"]["ZipFile"])
            kwargs["Code"] = {"ZipFile": buf.getvalue()}
        if "Tags" in props:
            kwargs["Tags"] = {t["Key"]: t["Value"] for t in props["Tags"]}
        variables = (kwargs.get("Environment") or {}).get("Variables")
        if variables:  # a Ref to a Number parameter resolves to a number here; CloudFormation passes text
            kwargs["Environment"] = {**kwargs["Environment"], "Variables": {k: str(v) for k, v in variables.items()}}
        client = _client("lambda")
        arn = client.create_function(**kwargs)["FunctionArn"]
        if props.get("ReservedConcurrentExecutions") not in (None, ""):
            client.put_function_concurrency(FunctionName=kwargs["FunctionName"],
                                            ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"]))
        return kwargs["FunctionName"], {"Arn": arn}


def _lower_first(value: Any) -> Any:
    """CloudFormation's PascalCase keys → the Step Functions API's camelCase, all the way down."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _lower_first(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_first(v) for v in value]
    return value


class CloudWatchAlarm(_Emulated, CloudFormationModel):
    TYPE, NAME_PROPERTY, ATTRS = "AWS::CloudWatch::Alarm", "AlarmName", ("Arn",)
    HOW = "emulated: cloudwatch PutMetricAlarm"
    _PASSED = ("AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "InsufficientDataActions",
               "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
               "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
               "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")

    @classmethod
    def create(cls, name, props, logical_id):
        kwargs = _picked(props, cls._PASSED)
        for key in ("EvaluationPeriods", "DatapointsToAlarm", "Period"):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        if "Threshold" in kwargs:
            kwargs["Threshold"] = float(kwargs["Threshold"])
        alarm = props.get("AlarmName") or name
        client = _client("cloudwatch")
        client.put_metric_alarm(AlarmName=alarm, **kwargs)
        arn = client.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmArn"]
        return alarm, {"Arn": arn}


class SnsSubscription(_Emulated, CloudFormationModel):
    TYPE, HOW = "AWS::SNS::Subscription", "emulated: sns Subscribe"

    @classmethod
    def create(cls, name, props, logical_id):
        arn = _client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                       Endpoint=props.get("Endpoint", ""))["SubscriptionArn"]
        return arn, {}


class ApiGatewayAccount(_Emulated, CloudFormationModel):
    TYPE, HOW = "AWS::ApiGateway::Account", "emulated: apigateway UpdateAccount (cloudwatchRoleArn)"

    @classmethod
    def create(cls, name, props, logical_id):
        _client("apigateway").update_account(patchOperations=[
            {"op": "replace", "path": "/cloudwatchRoleArn", "value": props["CloudWatchRoleArn"]}])
        return f"account-{logical_id}", {}


EMULATED: tuple[type[_Emulated], ...] = (LambdaFunction, LambdaLayerVersion, StepFunctionsStateMachine, ApiGatewayRestApi, ApiGatewayStage, SecretsManagerSecret, SchedulerScheduleGroup,
                                        SchedulerSchedule, S3BucketPolicy, EC2SecurityGroupEgress, CloudWatchAlarm,
                                        SnsSubscription, ApiGatewayAccount)


class _NotEmulated(_Emulated):
    """A type moto has no service for (CloudFront …): nothing is created; references resolve to
    ``not-emulated:<logical id>[.<attribute>]`` so whatever uses them shows it."""

    HOW = "not emulated (references resolve to not-emulated:<logical id>)"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @classmethod
    def create(cls, name, props, logical_id):
        return f"not-emulated:{logical_id}", {}

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return f"{self.physical_resource_id}.{attribute_name}"


_not_emulated: dict[str, type[_Emulated]] = {}


def install(endpoint_url: str, region: str, template_types: Iterable[str]) -> dict[str, str]:
    """Give moto a model for every type in ``template_types`` it lacks; type → how it is handled."""
    _endpoint.update(url=endpoint_url, region=region)
    native = native_types()
    emulated = {m.TYPE: m for m in EMULATED}
    handled: dict[str, str] = {}
    for resource_type in sorted(set(template_types) - native):
        if resource_type.startswith("Custom::") or resource_type.startswith("AWS::Serverless::"):
            continue
        if resource_type in emulated:
            handled[resource_type] = emulated[resource_type].HOW
        else:
            if resource_type not in _not_emulated:
                _not_emulated[resource_type] = type("NotEmulated_" + resource_type.replace(":", "_"), (_NotEmulated, CloudFormationModel),
                                                    {"TYPE": resource_type})
            handled[resource_type] = _not_emulated[resource_type].HOW
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()
    return handled
