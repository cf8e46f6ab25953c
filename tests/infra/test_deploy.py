"""infra/deploy.py: every step before an AWS call, and the S3/CloudFormation steps against moto.
(The whole deploy path runs against moto's CloudFormation in tests/infra/test_rehearse.py.)"""

import json

import pytest

from infra import deploy

SAM = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Parameters": {"Stage": {"Type": "String", "Default": "dev"}, "AlarmEmail": {"Type": "String"}},
    "Resources": {
        "ApiHandler": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip", "Handler": "app.app"}},
        "Sandbox": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip", "Handler": "app.sandbox"}},
        "Done": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": {"Bucket": "b", "Key": "k"}}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    },
}




def test_plan_names_the_stack_and_artifacts_bucket_per_stage_account_and_region(tmp_path):
    plan = deploy.make_plan("dev", "eu-west-1", "111122223333", build_dir=tmp_path)
    assert plan.stack_name == "iofold-dev"
    assert plan.artifacts_bucket == "iofold-artifacts-111122223333-eu-west-1"
    assert plan.template_path == tmp_path / "dev" / "sam.json"
    assert set(plan.capabilities) == {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}
    with pytest.raises(deploy.DeployError):
        deploy.make_plan("dev/../x", "eu-west-1", "1")


def test_parameters_take_overrides_leave_defaults_and_name_what_is_missing():
    assert deploy.template_parameters(SAM, {"AlarmEmail": "a@b.c"}) == [
        {"ParameterKey": "AlarmEmail", "ParameterValue": "a@b.c"}]
    with pytest.raises(deploy.DeployError, match="AlarmEmail"):
        deploy.template_parameters(SAM, {})
    with pytest.raises(deploy.DeployError, match="Nope"):
        deploy.template_parameters(SAM, {"AlarmEmail": "x", "Nope": "1"})
    assert deploy.parse_overrides(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(deploy.DeployError):
        deploy.parse_overrides(["novalue"])


def test_package_rewrite_points_local_code_at_s3_and_leaves_the_rest(tmp_path):
    local = deploy.local_artifacts(SAM, tmp_path)
    assert local == {"ApiHandler": tmp_path / "deployment.zip", "Sandbox": tmp_path / "deployment.zip"}
    out = deploy.rewrite_code_uris(SAM, {"ApiHandler": ("art", "dev/abc.zip"), "Sandbox": ("art", "dev/abc.zip")})
    assert out["Resources"]["ApiHandler"]["Properties"]["CodeUri"] == {"Bucket": "art", "Key": "dev/abc.zip"}
    assert out["Resources"]["Done"]["Properties"]["CodeUri"] == {"Bucket": "b", "Key": "k"}
    assert SAM["Resources"]["ApiHandler"]["Properties"]["CodeUri"] == "./deployment.zip"  # input untouched
    plain = {"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"Code": "build/f.zip"}}}}
    assert deploy.rewrite_code_uris(plain, {"F": ("art", "k")})["Resources"]["F"]["Properties"]["Code"] == {
        "S3Bucket": "art", "S3Key": "k"}


def test_artifact_keys_follow_the_content(tmp_path):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert deploy.artifact_key("dev", a) != deploy.artifact_key("dev", b)
    b.write_bytes(b"one")
    assert deploy.artifact_key("dev", a) == deploy.artifact_key("dev", b)
    assert deploy.artifact_key("dev", a).startswith("dev/") and deploy.artifact_key("dev", a).endswith(".zip")


def test_outputs_give_the_api_and_dashboard_urls():
    stack = {"Outputs": [{"OutputKey": "EndpointURL", "OutputValue": "https://abc.execute-api.eu-west-1.amazonaws.com/dev/"},
                         {"OutputKey": "DashboardUrl", "OutputValue": "https://d111.cloudfront.net"}]}
    outputs = deploy.outputs_by_key(stack)
    assert deploy.api_url_from_outputs(outputs) == "https://abc.execute-api.eu-west-1.amazonaws.com/dev/v1"
    assert deploy.api_url_from_outputs({**outputs, "ApiUrl": "https://abc/dev/v1"}) == "https://abc/dev/v1"
    assert deploy.dashboard_url_from_outputs(outputs) == "https://d111.cloudfront.net/"
    assert deploy.dashboard_url_from_outputs({"DashboardDomainName": "d2.cloudfront.net"}) == "https://d2.cloudfront.net/"
    assert deploy.dashboard_url_from_outputs({}) is None
    with pytest.raises(deploy.DeployError, match="EndpointURL"):
        deploy.api_url_from_outputs({})


def test_dashboard_build_writes_the_config_the_dashboard_reads_and_types_every_file(tmp_path):
    out = deploy.build_dashboard(tmp_path / "dash", "https://api.example/dev/v1")
    assert json.loads((out / "config.json").read_text()) == {"api_url": "https://api.example/dev/v1"}
    # the dashboard reads exactly this field (dashboard/js/api.js)
    assert "api_url" in (deploy.DASHBOARD_SRC / "js" / "api.js").read_text()
    files = {f.key: f for f in deploy.dashboard_files(out)}
    assert files["index.html"].content_type == "text/html; charset=utf-8"
    assert files["js/app.js"].content_type == "text/javascript; charset=utf-8"
    assert files["styles.css"].content_type == "text/css; charset=utf-8"
    assert files["favicon.svg"].content_type == "image/svg+xml"
    assert files["config.json"].content_type == "application/json"
    assert files["config.json"].cache_control == files["index.html"].cache_control == "no-cache"
    assert files["js/app.js"].cache_control.startswith("public")
    assert set(files) == {p.relative_to(deploy.DASHBOARD_SRC).as_posix()
                          for p in deploy.DASHBOARD_SRC.rglob("*") if p.is_file()} | {"config.json"}


def test_probe_answers_decide_the_deploy(monkeypatch):
    from chalicelib.sandbox.tasks import run_sandbox

    # the real handler's answer, from a real child under the Lambda profile
    real = run_sandbox({"action": "probe"}, {"IOFOLD_SANDBOX_PROFILE": "lambda", "IOFOLD_SANDBOX_REQUIRE": "seccomp"})
    assert "seccomp" in deploy.check_probe(deploy.parse_probe(real, None))
    off = {**real, "layers": {**real["layers"], "seccomp": False}}
    with pytest.raises(deploy.DeployError, match="seccomp is not on"):
        deploy.check_probe(deploy.parse_probe(off, None))
    with pytest.raises(deploy.DeployError, match="seccomp is not on"):
        deploy.check_probe(deploy.parse_probe({**real, "ok": False}, None))
    failed = deploy.parse_probe({"errorType": "SandboxUnavailable", "errorMessage": "boom"}, "Unhandled")
    with pytest.raises(deploy.DeployError, match="SandboxUnavailable"):
        deploy.check_probe(failed)


def test_artifacts_upload_once_and_dashboard_sync_sets_types_and_removes_stale(aws, tmp_path):
    s3 = aws.client("s3")
    plan = deploy.make_plan("dev", "us-east-1", "123456789012", build_dir=tmp_path)
    plan.package_dir.mkdir()
    (plan.package_dir / "deployment.zip").write_bytes(b"PK zip")
    assert deploy.ensure_bucket(s3, plan.artifacts_bucket, "us-east-1") is True
    assert deploy.ensure_bucket(s3, plan.artifacts_bucket, "us-east-1") is False
    out = deploy.upload_artifacts(s3, plan, SAM)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=plan.artifacts_bucket)["Contents"]]
    assert len(keys) == 1 and out["Resources"]["Sandbox"]["Properties"]["CodeUri"]["Key"] == keys[0]

    s3.create_bucket(Bucket="dash")
    s3.put_object(Bucket="dash", Key="old.js", Body=b"x")
    files = deploy.dashboard_files(deploy.build_dashboard(tmp_path / "d", "https://api/v1"))
    assert deploy.sync_dashboard(s3, "dash", files) == (len(files), 1)
    assert s3.head_object(Bucket="dash", Key="js/api.js")["ContentType"] == "text/javascript; charset=utf-8"
    assert json.loads(s3.get_object(Bucket="dash", Key="config.json")["Body"].read()) == {"api_url": "https://api/v1"}
    assert "old.js" not in {o["Key"] for o in s3.list_objects_v2(Bucket="dash")["Contents"]}


def test_stack_is_created_from_the_uploaded_template(aws, tmp_path):
    s3, cfn = aws.client("s3"), aws.client("cloudformation")
    plan = deploy.make_plan("dev", "us-east-1", "123456789012", build_dir=tmp_path)
    deploy.ensure_bucket(s3, plan.artifacts_bucket, "us-east-1")
    body = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q1"}}},
            "Outputs": {"EndpointURL": {"Value": "https://x/dev/"}}}
    url = deploy.upload_template(s3, plan, body)
    assert deploy.create_or_update_stack(cfn, plan, url, [], wait_delay_s=1) == "created"
    assert deploy.stack_status(cfn, "iofold-dev") == "CREATE_COMPLETE"
    assert deploy.outputs_by_key(cfn.describe_stacks(StackName="iofold-dev")["Stacks"][0]) == {"EndpointURL": "https://x/dev/"}
    assert deploy.stack_status(cfn, "iofold-nope") is None
