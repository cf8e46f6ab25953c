"""``make deploy STAGE=dev``: the packaged template into an AWS account, then what a first
deployment needs: the sandbox probe, the first workspace, the dashboard.

    python -m infra.deploy --stage dev [--region eu-west-1] [--parameter Key=Value ...]

Steps: package (infra/build/<stage>/: sam.json + deployment.zip) → upload the artifacts to an
artifacts bucket (created if missing) and point every ``CodeUri`` at them (what ``aws
cloudformation package`` does) → create or update the stack (IAM, named IAM, auto-expand for
the SAM transform) and wait → invoke the sandbox's capability probe (fails the deploy when
seccomp is off) → bootstrap the first workspace and owner key → build the dashboard with a
``config.json`` naming the API → sync it to the dashboard bucket → invalidate CloudFront →
print the URLs and the key.

Every step before an AWS call is a plain function (tested in tests/infra/test_deploy.py); the
AWS calls go through the boto3 clients in ``Clients``, so ``make rehearse`` runs this same
module against moto on loopback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import bootstrap as bootstrap_mod
from infra.template import logical_id

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = Path(__file__).parent / "build"
DASHBOARD_SRC = ROOT / "dashboard"
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
PACKAGED_TEMPLATE = "sam.json"
# Logical ids in the template this module looks for.
SANDBOX_FUNCTION = logical_id("sandbox")
DASHBOARD_BUCKET = "DashboardBucket"
DASHBOARD_DISTRIBUTION = "DashboardDistribution"
# Content types S3 must serve for the dashboard (a .js with the wrong type is refused as a module).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".jsonl": "application/x-ndjson",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8",
    ".map": "application/json", ".woff2": "font/woff2",
}
NO_CACHE = {"index.html", "config.json"}  # re-read on every visit: they name the current API and scripts


class DeployError(Exception):
    """A step failed; the message says which and why."""


def stack_name_for(stage: str) -> str:
    """The stack of a stage (``dev`` → ``iofold-dev``)."""
    return f"iofold-{stage}"


@dataclass(frozen=True)
class Plan:
    """What one deployment does, decided before any AWS call."""

    stage: str
    region: str
    account_id: str
    stack_name: str
    artifacts_bucket: str
    package_dir: Path
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = CAPABILITIES

    @property
    def template_path(self) -> Path:
        return self.package_dir / PACKAGED_TEMPLATE

    @property
    def dashboard_dir(self) -> Path:
        return self.package_dir / "dashboard"


def make_plan(stage: str, region: str, account_id: str, *, overrides: Mapping[str, str] | None = None,
              build_dir: Path = BUILD_DIR, artifacts_bucket: str | None = None) -> Plan:
    """The plan for a stage in an account and region."""
    if not stage.replace("-", "").isalnum():
        raise DeployError(f"stage {stage!r}: use letters, digits and dashes")
    return Plan(stage=stage, region=region, account_id=account_id, stack_name=stack_name_for(stage),
                artifacts_bucket=artifacts_bucket or f"iofold-artifacts-{account_id}-{region}",
                package_dir=build_dir / stage, parameter_overrides=dict(overrides or {}))


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``Key=Value`` strings → a dict; DeployError on one without ``=``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(f"parameter {pair!r}: write Key=Value")
        out[key] = value
    return out


def template_parameters(template: Mapping[str, Any], overrides: Mapping[str, str]) -> list[dict[str, str]]:
    """CloudFormation ``Parameters`` for every template parameter: the override, else its default
    (left to CloudFormation); DeployError naming the ones with neither, or overrides it lacks."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise DeployError(f"the template has no parameter {', '.join(unknown)}")
    missing = sorted(k for k, v in declared.items() if k not in overrides and "Default" not in v)
    if missing:
        raise DeployError(f"give a value for {', '.join(missing)} (--parameter Key=Value)")
    return [{"ParameterKey": k, "ParameterValue": str(overrides[k])} for k in sorted(declared) if k in overrides]


# --- package: local artifacts → S3, as `aws cloudformation package` does -------------------

_LOCAL_PATH_PROPERTIES = {  # resource type → property holding a local path in a packaged template
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Lambda::LayerVersion": "Content",
    "AWS::Lambda::Function": "Code",
}


def local_artifacts(template: Mapping[str, Any], base: Path) -> dict[str, Path]:
    """Logical id → local file for every resource whose code is a local path (not yet in S3)."""
    out = {}
    for logical, resource in (template.get("Resources") or {}).items():
        prop = _LOCAL_PATH_PROPERTIES.get(resource.get("Type", ""))
        value = (resource.get("Properties") or {}).get(prop) if prop else None
        if isinstance(value, str) and not value.startswith("s3://"):
            out[logical] = (base / value).resolve()
    return out


def artifact_key(stage: str, path: Path) -> str:
    """A content-addressed key, so an unchanged zip is uploaded once and an update sees new code."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"{stage}/{digest.hexdigest()}{path.suffix}"


def rewrite_code_uris(template: Mapping[str, Any], locations: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """A copy of the template whose local code paths point at S3 (``locations``: logical id →
    (bucket, key)), in the shape each resource type takes."""
    out = json.loads(json.dumps(template))
    for logical, (bucket, key) in locations.items():
        resource = out["Resources"][logical]
        prop = _LOCAL_PATH_PROPERTIES[resource["Type"]]
        if resource["Type"].startswith("AWS::Serverless::"):
            resource["Properties"][prop] = {"Bucket": bucket, "Key": key}
        else:
            resource["Properties"][prop] = {"S3Bucket": bucket, "S3Key": key}
    return out


def template_key(stage: str, body: str) -> str:
    return f"{stage}/template-{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


# --- outputs -----------------------------------------------------------------------------

def outputs_by_key(stack: Mapping[str, Any]) -> dict[str, str]:
    """A DescribeStacks stack's outputs as a dict."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def api_url_from_outputs(outputs: Mapping[str, str]) -> str:
    """The API's base URL (``…/v1``) from the stack's outputs (Chalice's ``EndpointURL``)."""
    if outputs.get("ApiUrl"):
        return outputs["ApiUrl"].rstrip("/")
    endpoint = outputs.get("EndpointURL")
    if not endpoint:
        raise DeployError("the stack has no EndpointURL (or ApiUrl) output")
    return endpoint.rstrip("/") + "/v1"


def dashboard_url_from_outputs(outputs: Mapping[str, str]) -> str | None:
    """The dashboard's URL, from a ``DashboardUrl`` or ``DashboardDomainName`` output."""
    if outputs.get("DashboardUrl"):
        return outputs["DashboardUrl"].rstrip("/") + "/"
    domain = outputs.get("DashboardDomainName")
    return f"https://{domain}/" if domain else None


# --- dashboard ---------------------------------------------------------------------------

def dashboard_config(api_url: str) -> dict[str, str]:
    """What the dashboard reads at start (dashboard/js/api.js: ``config.json`` → ``api_url``)."""
    return {"api_url": api_url}


def build_dashboard(out_dir: Path, api_url: str, src_dir: Path = DASHBOARD_SRC) -> Path:
    """dashboard/ copied to ``out_dir`` with its ``config.json``; returns ``out_dir``."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(src_dir, out_dir, ignore=shutil.ignore_patterns("config.json", ".*"))
    (out_dir / "config.json").write_text(json.dumps(dashboard_config(api_url), indent=2) + "\n")
    return out_dir


@dataclass(frozen=True)
class DashboardFile:
    key: str
    path: Path
    content_type: str
    cache_control: str


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def dashboard_files(out_dir: Path) -> list[DashboardFile]:
    """Every file of the built dashboard with its key, content type and caching."""
    files = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        key = path.relative_to(out_dir).as_posix()
        cache = "no-cache" if key in NO_CACHE else "public, max-age=300"
        files.append(DashboardFile(key, path, content_type(key), cache))
    return files


# --- AWS steps (clients passed in) -------------------------------------------------------

@dataclass
class Clients:
    """The boto3 clients a deployment uses (real AWS, or moto on loopback for the rehearsal)."""

    s3: Any
    cloudformation: Any
    lambda_: Any
    cloudfront: Any
    dynamodb: Any  # resource
    dynamodb_client: Any
    sts: Any

    @classmethod
    def from_session(cls, session: Any, endpoint_url: str | None = None) -> "Clients":
        kw = {"endpoint_url": endpoint_url} if endpoint_url else {}
        return cls(s3=session.client("s3", **kw), cloudformation=session.client("cloudformation", **kw),
                   lambda_=session.client("lambda", **kw), cloudfront=session.client("cloudfront", **kw),
                   dynamodb=session.resource("dynamodb", **kw), dynamodb_client=session.client("dynamodb", **kw),
                   sts=session.client("sts", **kw))


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create the artifacts bucket unless it exists; True when created."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"artifacts bucket {bucket}: {exc}") from exc
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    return True


def upload_artifacts(s3: Any, plan: Plan, template: Mapping[str, Any]) -> dict[str, Any]:
    """Upload each local artifact once (content-addressed) and return the rewritten template."""
    locations: dict[str, tuple[str, str]] = {}
    uploaded: dict[Path, str] = {}
    for logical, path in local_artifacts(template, plan.package_dir).items():
        if not path.is_file():
            raise DeployError(f"{logical}: {path} does not exist (run make package STAGE={plan.stage})")
        if path not in uploaded:
            key = artifact_key(plan.stage, path)
            if not _object_exists(s3, plan.artifacts_bucket, key):
                s3.upload_file(str(path), plan.artifacts_bucket, key)
            uploaded[path] = key
        locations[logical] = (plan.artifacts_bucket, uploaded[path])
    return rewrite_code_uris(template, locations)


def _object_exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError:
        return False


def upload_template(s3: Any, plan: Plan, template: Mapping[str, Any]) -> str:
    """Put the template in the artifacts bucket (CreateStack takes at most 51,200 bytes inline); its URL."""
    body = json.dumps(template)
    key = template_key(plan.stage, body)
    s3.put_object(Bucket=plan.artifacts_bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return template_url(plan.artifacts_bucket, plan.region, key)


def create_or_update_stack(cfn: Any, plan: Plan, url: str, parameters: list[dict[str, str]],
                           *, wait_delay_s: float = 10) -> str:
    """Create the stack, or update it; wait until it settles. Returns "created", "updated" or "unchanged"."""
    from botocore.exceptions import ClientError

    args = {"StackName": plan.stack_name, "TemplateURL": url, "Parameters": parameters,
            "Capabilities": list(plan.capabilities), "Tags": [{"Key": "iofold:stage", "Value": plan.stage}]}
    status = stack_status(cfn, plan.stack_name)
    if status == "ROLLBACK_COMPLETE":  # a failed first create can only be deleted
        cfn.delete_stack(StackName=plan.stack_name)
        _wait(cfn, "stack_delete_complete", plan.stack_name, wait_delay_s)
        status = None
    if status is None:
        try:
            cfn.create_stack(**args, OnFailure="ROLLBACK")
        except ClientError as exc:
            raise DeployError(f"create of {plan.stack_name} refused: {exc}") from exc
        action, waiter = "created", "stack_create_complete"
    else:
        try:
            cfn.update_stack(**args)
        except ClientError as exc:
            if "No updates are to be performed" in str(exc):
                return "unchanged"
            raise DeployError(f"update of {plan.stack_name} refused: {exc}") from exc
        action, waiter = "updated", "stack_update_complete"
    _wait(cfn, waiter, plan.stack_name, wait_delay_s)
    return action


def _wait(cfn: Any, waiter: str, stack_name: str, delay_s: float) -> None:
    from botocore.exceptions import WaiterError

    try:
        cfn.get_waiter(waiter).wait(StackName=stack_name,
                                    WaiterConfig={"Delay": max(1, int(delay_s)), "MaxAttempts": 360})
    except WaiterError as exc:
        reasons = failure_reasons(cfn, stack_name)
        raise DeployError(f"stack {stack_name}: {waiter} failed: {exc}" +
                          "".join(f"\n  {r}" for r in reasons)) from exc


def stack_status(cfn: Any, stack_name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def failure_reasons(cfn: Any, stack_name: str, limit: int = 10) -> list[str]:
    """The latest failed resource events of a stack, as lines."""
    events = cfn.describe_stack_events(StackName=stack_name).get("StackEvents", [])
    failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in failed[:limit]]


@dataclass(frozen=True)
class Probe:
    """The sandbox function's answer to ``{"action": "probe"}`` (chalicelib/sandbox/tasks.py): which
    layers a real child applied (``layers``: name → bool, ``details``: name → words) and ``ok``."""

    ok: bool = False
    layers: Mapping[str, bool] = field(default_factory=dict)
    profile: str | None = None
    detail: str = ""

    @property
    def seccomp_on(self) -> bool:
        return self.layers.get("seccomp") is True


def parse_probe(payload: Mapping[str, Any], function_error: str | None) -> Probe:
    """Read a probe response; a failed invocation is a probe that failed."""
    if function_error:
        kind, message = payload.get("errorType", ""), str(payload.get("errorMessage", "")).split("\n")[0]
        return Probe(ok=False, detail=f"{kind}: {message[:500]}")
    layers = payload.get("layers") or {}
    details = payload.get("details") or {}
    return Probe(ok=payload.get("ok") is True, layers={k: v is True for k, v in layers.items()},
                 profile=payload.get("profile"),
                 detail=str(payload.get("error") or details.get("seccomp") or "")[:500])


def probe_sandbox(lambda_client: Any, function_name: str) -> Probe:
    response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps({"action": "probe"}).encode())
    payload = json.loads(response["Payload"].read() or b"{}")
    return parse_probe(payload, response.get("FunctionError"))


def check_probe(probe: Probe) -> str:
    """A line describing the probe; DeployError unless seccomp is on (the wall in Lambda, SECURITY.md)."""
    if not probe.ok or not probe.seccomp_on:
        raise DeployError(f"sandbox probe: seccomp is not on in the deployed sandbox "
                          f"(layers {dict(probe.layers)}; {probe.detail}); refusing to run eval code there")
    return f"sandbox probe: ok (profile {probe.profile}, seccomp {probe.detail})"


def sync_dashboard(s3: Any, bucket: str, files: list[DashboardFile]) -> tuple[int, int]:
    """Upload every file with its content type, delete keys no longer built; (uploaded, deleted)."""
    for f in files:
        s3.put_object(Bucket=bucket, Key=f.key, Body=f.path.read_bytes(), ContentType=f.content_type,
                      CacheControl=f.cache_control)
    keep = {f.key for f in files}
    stale = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
             for obj in page.get("Contents", []) if obj["Key"] not in keep]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start:start + 1000]]})
    return len(files), len(stale)


def invalidate(cloudfront: Any, distribution_id: str) -> str:
    response = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"iofold-{time.time_ns()}"})
    return response["Invalidation"]["Id"]


@dataclass
class Result:
    stack: str
    action: str
    api_url: str
    dashboard_url: str | None
    resources: dict[str, str]
    outputs: dict[str, str]
    bootstrap: bootstrap_mod.BootstrapResult
    notes: list[str] = field(default_factory=list)


Translate = Callable[[dict[str, Any]], dict[str, Any]]


def deploy(plan: Plan, aws: Clients, *, translate: Translate | None = None, 
           log: Callable[[str], None] = print, wait_delay_s: float = 10,
           not_emulated: Iterable[str] = ()) -> Result:
    """Every step after packaging. ``translate`` (the rehearsal) turns the uploaded template into
    what the target CloudFormation accepts; ``not_emulated`` names logical ids whose steps are skipped
    (read when the step comes, so ``translate`` may fill it)."""
    template = json.loads(plan.template_path.read_text())
    parameters = template_parameters(template, plan.parameter_overrides)
    if ensure_bucket(aws.s3, plan.artifacts_bucket, plan.region):
        log(f"artifacts bucket {plan.artifacts_bucket}: created")
    template = upload_artifacts(aws.s3, plan, template)
    if translate is not None:
        template = translate(template)
    url = upload_template(aws.s3, plan, template)
    action = create_or_update_stack(aws.cloudformation, plan, url, parameters, wait_delay_s=wait_delay_s)
    log(f"stack {plan.stack_name}: {action}")
    stack = aws.cloudformation.describe_stacks(StackName=plan.stack_name)["Stacks"][0]
    outputs = outputs_by_key(stack)
    resources = bootstrap_mod.stack_resources(aws.cloudformation, plan.stack_name)
    notes: list[str] = []

    log(check_probe(probe_sandbox(aws.lambda_, resources[SANDBOX_FUNCTION])))
    boot = bootstrap_mod.bootstrap(aws.dynamodb, aws.dynamodb_client,
                                   bootstrap_mod.tables_from_resources(resources, plan.stack_name))
    log(boot.describe(show_key=False))

    api_url = api_url_from_outputs(outputs)
    dashboard_url = dashboard_url_from_outputs(outputs)
    files = dashboard_files(build_dashboard(plan.dashboard_dir, api_url))
    if resources.get(DASHBOARD_BUCKET):
        uploaded, deleted = sync_dashboard(aws.s3, resources[DASHBOARD_BUCKET], files)
        log(f"dashboard: {uploaded} files to s3://{resources[DASHBOARD_BUCKET]} ({deleted} stale removed)")
    else:
        notes.append(f"the stack has no {DASHBOARD_BUCKET}: dashboard built in {plan.dashboard_dir}, not uploaded")
    distribution = resources.get(DASHBOARD_DISTRIBUTION)
    if distribution and DASHBOARD_DISTRIBUTION not in set(not_emulated):
        log(f"dashboard: CloudFront invalidation {invalidate(aws.cloudfront, distribution)}")
    elif distribution:
        notes.append(f"{DASHBOARD_DISTRIBUTION} not emulated: no CloudFront invalidation")
    for note in notes:
        log(f"note: {note}")
    return Result(plan.stack_name, action, api_url, dashboard_url, resources, outputs, boot, notes)


def package(stage: str, build_dir: Path = BUILD_DIR) -> Path:
    """``make package``: infra/template.py's package step into ``build_dir/<stage>``; the folder."""
    from infra import template as template_mod

    try:
        return template_mod.package(stage, build_dir=build_dir).parent
    except RuntimeError as exc:
        raise DeployError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--region", default=None, help="default: the AWS CLI/SDK's configured region")
    parser.add_argument("--parameter", action="append", default=[], metavar="Key=Value")
    parser.add_argument("--skip-package", action="store_true", help="use infra/build/<stage>/ as it is")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    if not session.region_name:
        print("deploy: no region: pass --region or set AWS_REGION", file=sys.stderr)
        return 2
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        plan = make_plan(args.stage, session.region_name, account, overrides=parse_overrides(args.parameter))
        if not args.skip_package:
            package(args.stage)
        result = deploy(plan, Clients.from_session(session))
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    print(f"\niofold is deployed ({result.stack}, {result.action}).\n  API:       {result.api_url}\n"
          f"  dashboard: {result.dashboard_url or '(no dashboard output)'}")
    if result.bootstrap.created:
        print(f"  owner key: {result.bootstrap.api_key}  (shown only now; store it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
