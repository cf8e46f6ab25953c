"""``make rehearse STAGE=dev``: deploy the packaged template into a local AWS on loopback and
run the product's loop on what it created, as it would run on AWS.

    python -m infra.rehearse --stage dev [--skip-package] [--keep-logs]

1. Package (infra/build/<stage>/: sam.json + deployment.zip), unless --skip-package.
2. Start moto's server on 127.0.0.1 (its ASL interpreter runs the state machines).
3. Run infra/deploy.py's own deploy path against it: upload the artifacts and rewrite
   ``CodeUri`` (what ``aws cloudformation package`` does), translate the SAM transform offline
   (aws-sam-translator; moto's CloudFormation cannot), create the stack with moto's CloudFormation, probe the sandbox, bootstrap, sync the
   dashboard. Types moto's CloudFormation lacks (or creates unusably) are created through their
   service's API from the template's properties (infra/local/cfn_models.py) or reported as not
   emulated.
4. Every Lambda invoke (from Step Functions, from a task, from the API) runs the packaged code
   in a worker process of that function alone, with exactly the environment moto's Lambda
   holds for it (GetFunctionConfiguration) plus what Lambda's runtime sets and the loopback
   endpoint: infra/local/lambda_runtime.py. The API is Chalice's local gateway forwarding each
   request, as API Gateway's proxy integration does, to the API function.
5. Smoke loop through the API: upload traces → rate → generate → execute → matrix → schedule.
6. Telemetry: every task invoked logged its invocation as structured JSON with its ids, and the
   functions' EMF metrics are in the namespace the template gave them (check_telemetry).

The last line is ``rehearsal: ok (<n> resources, <m> functions, loop passed in <s> s)``, or
``rehearsal: FAILED: …`` with the failing function's log tail.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib import observability
from infra import deploy, resources, template

API_FUNCTION = template.logical_id(resources.API_FUNCTION)
SCHEDULED_IMPORT_FUNCTION = template.logical_id("scheduled_import")
CLEANUP_FUNCTION = template.logical_id("evalset_cleanup")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
LOOPBACK_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "rehearsal", "AWS_SECRET_ACCESS_KEY": "rehearsal"}


class RehearsalError(Exception):
    """The rehearsal found something that would break on AWS."""


# --- the template, as CloudFormation would see it ---------------------------------------

def translate_sam(template: dict[str, Any], region: str = REGION) -> dict[str, Any]:
    """Expand the SAM transform offline, as CloudFormation's AWS::Serverless transform does."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    if "Transform" not in template:
        return template
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    return translator.translate(json.loads(json.dumps(template)), {}, get_managed_policy_map=lambda: {})


def references(value: Any) -> set[str]:
    """Logical ids a property value refers to (Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub)."""
    import re

    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"][0] if isinstance(value["Fn::Sub"], list) else value["Fn::Sub"]
            found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", str(text))}
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def dependency_cycle(template: dict[str, Any]) -> list[str] | None:
    """A cycle among the resources' references and DependsOn, which CloudFormation refuses
    ("Circular dependency between resources") and moto's CloudFormation recurses on forever."""
    resources = template.get("Resources", {})
    graph = {}
    for logical, resource in resources.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        graph[logical] = sorted((references(resource.get("Properties")) | set(depends)) & set(resources) - {logical})
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def drop_env(template: dict[str, Any], spec: str) -> dict[str, Any]:
    """Remove one variable from one function's environment (``Logical:VAR``): a template bug on purpose."""
    logical, _, var = spec.partition(":")
    variables = template["Resources"][logical]["Properties"]["Environment"]["Variables"]
    if var not in variables:
        raise RehearsalError(f"--drop-env: {logical} has no variable {var}")
    del variables[var]
    return template


def template_env(template: dict[str, Any]) -> dict[str, set[str]]:
    """Logical id → the variable names the template gives each Lambda function."""
    return {logical: set(((r.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
            for logical, r in template.get("Resources", {}).items() if r.get("Type") == "AWS::Lambda::Function"}


def check_environments(expected: dict[str, set[str]], resources: dict[str, str],
                       configs: dict[str, dict[str, str]]) -> list[str]:
    """Problems between the template's environments and what Lambda holds (physical name → env):
    a variable moto dropped (its reference resolved to nothing) or one pointing at a resource
    that was not emulated."""
    problems = []
    for logical, names in sorted(expected.items()):
        env = configs.get(resources.get(logical, ""), {})
        for var in sorted(names - set(env)):
            problems.append(f"{logical}: {var} is in the template but not in the function's environment")
        for var, value in sorted(env.items()):
            if "not-emulated:" in value:
                problems.append(f"{logical}: {var}={value} names a resource the rehearsal does not emulate")
    return problems


# --- the API: Chalice's local gateway → the API function ----------------------------------

class LambdaProxyApp:
    """What Chalice's local server calls with each API Gateway event: it invokes the deployed API
    function (through moto's Lambda, so in the API function's own worker) and returns its answer,
    as API Gateway's Lambda proxy integration does."""

    def __init__(self, routes_app: Any, lambda_client: Any, function_name: str):
        self.routes = routes_app.routes
        self.api = routes_app.api
        self._lambda = lambda_client
        self._function = function_name

    def __call__(self, event: dict, context: Any) -> dict:
        if isinstance(event.get("body"), bytes):  # API Gateway hands a text body over as a string
            event["body"] = event["body"].decode("utf-8", errors="replace")
        response = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError") or "statusCode" not in payload:
            return {"statusCode": 502, "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
                    "body": json.dumps({"message": "Internal server error"})}
        payload.setdefault("headers", {})
        payload.setdefault("multiValueHeaders", {})
        return payload


def start_gateway(proxy: LambdaProxyApp, stage: str) -> tuple[Any, str]:
    """Chalice's local server (with the local stack's request handler) in a thread; (server, base URL)."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from infra.local.dev import api_request_handler

    class QuietHandler(api_request_handler()):  # type: ignore[misc, valid-type]
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    server = LocalDevServer(proxy, Config.create(chalice_stage=stage, app_name="iofold", lambda_timeout=29),
                            "127.0.0.1", 0, handler_cls=QuietHandler)
    threading.Thread(target=server.server.serve_forever, daemon=True, name="gateway").start()
    host, port = server.server.server_address[:2]
    return server, f"http://{host}:{port}/v1"


# --- the smoke loop ------------------------------------------------------------------------

class ApiClient:
    def __init__(self, base_url: str, key: str):
        import httpx

        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def ok(self, method: str, path: str, body: Any = None, *, status: int | None = None, **kw) -> Any:
        response = self.http.request(method, path, json=body, **kw) if body is not None else \
            self.http.request(method, path, **kw)
        if response.status_code >= 300 or (status and response.status_code != status):
            raise RehearsalError(f"{method} {path} → {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def wait_ok(self, job_id: str, what: str, timeout_s: float = 180) -> dict:
        from chalicelib.jobs.polling import poll_job

        job = poll_job(lambda: self.ok("GET", f"/jobs/{job_id}"), timeout_s=timeout_s, interval_s=0.2)
        if job["status"] != "succeeded":
            raise RehearsalError(f"{what} job {job_id} {job['status']}: {job.get('error')}")
        return job


def smoke_loop(api: ApiClient, scheduler: Any, scheduled_import_arn: str, log: Callable[[str], None],
               cleanup: Callable[[], dict]) -> dict:
    """Upload traces → rate → generate → execute → matrix → schedule → delete the set, through the API;
    ``cleanup`` runs the deployed evalset_cleanup function once."""
    from infra.local.demo_traces import make_demo_cases

    cases = make_demo_cases(n=12, seed=11)
    job = api.ok("POST", "/traces/upload?format=langfuse", status=202,
                 content="\n".join(json.dumps(c.trace) for c in cases).encode(),
                 headers={"Content-Type": "application/x-ndjson"})
    uploaded = api.wait_ok(job["job_id"], "upload")
    by_external = {t["source"]["external_id"]: t["id"] for t in api.ok("GET", "/traces?limit=200")["items"]}
    if len(by_external) != len(cases):
        raise RehearsalError(f"uploaded {len(cases)} traces, the API lists {len(by_external)}: {uploaded.get('result')}")
    log(f"loop: uploaded {len(cases)} traces")

    eval_set = api.ok("POST", "/eval-sets", {"name": "Refund policy", "criteria": "refund only after checking the order"})
    for case in cases:
        api.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{by_external[case.trace['id']]}",
               {"rating": case.rating, "notes": ""})
    log(f"loop: rated {len(cases)} traces in eval set {eval_set['id']}")

    # "auto", as the dashboard asks: the stack's LLM secret is empty, so generation must fall back to offline
    job = api.ok("POST", f"/eval-sets/{eval_set['id']}/generate", {"generator": "auto"}, status=202)
    generated = api.wait_ok(job["job_id"], "generate")["result"]
    eval_id = generated["eval_id"]
    log(f"loop: generated eval {eval_id} ({generated.get('generator')}: {generated.get('generator_reason')})")

    job = api.ok("POST", f"/evals/{eval_id}/execute", {}, status=202)
    executed = api.wait_ok(job["job_id"], "execute")
    log(f"loop: executed: {json.dumps(executed.get('result'))[:200]}")

    matrix = api.ok("GET", f"/eval-sets/{eval_set['id']}/matrix?eval_ids={eval_id}")
    cells = [row["results"].get(eval_id) for row in matrix["rows"]]
    if len(cells) != len(cases) or not all(c and c["result"] in ("pass", "fail") for c in cells):
        raise RehearsalError(f"matrix: expected a pass/fail result for each of {len(cases)} rated traces, got "
                             f"{[c and c['result'] for c in cells]}")
    log(f"loop: matrix has {len(cells)} rows, accuracy {matrix['stats'].get(eval_id, {}).get('accuracy')}")

    # A public address as an IP literal: the deployed API refuses private ones and a name would need DNS,
    # which the rehearsal has not. Nothing connects to it: the loop only schedules the import.
    integration = api.ok("POST", "/integrations", {
        "platform": "langfuse", "name": "Rehearsal", "base_url": "https://8.8.8.8",
        "credentials": {"public_key": "pk-lf-rehearsal", "secret_key": "sk-lf-rehearsal"}})
    api.ok("PUT", f"/integrations/{integration['id']}/schedule", {"expression": "rate(1 hour)"})
    schedules = [s for group in scheduler.list_schedule_groups()["ScheduleGroups"]
                 for s in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]]
    if len(schedules) != 1:
        raise RehearsalError(f"expected one schedule after PUT …/schedule, found {len(schedules)}")
    schedule = scheduler.get_schedule(Name=schedules[0]["Name"], GroupName=schedules[0]["GroupName"])
    if schedule["Target"]["Arn"] != scheduled_import_arn:
        raise RehearsalError(f"the schedule targets {schedule['Target']['Arn']}, not the deployed "
                             f"{SCHEDULED_IMPORT_FUNCTION} ({scheduled_import_arn})")
    log(f"loop: schedule {schedule['GroupName']}/{schedule['Name']} → {SCHEDULED_IMPORT_FUNCTION}")

    api.ok("DELETE", f"/eval-sets/{eval_set['id']}", status=204)
    for path in (f"/eval-sets/{eval_set['id']}/matrix", f"/evals/{eval_id}/executions"):
        status = api.http.get(path).status_code
        if status != 404:
            raise RehearsalError(f"after DELETE /eval-sets/{eval_set['id']}: GET {path} answered {status}, not 404")
    cleaned = cleanup()
    if cleaned.get("deleted", 0) < len(cases):
        raise RehearsalError(f"{CLEANUP_FUNCTION} removed {cleaned.get('deleted')} items of the deleted set, "
                             f"expected its {len(cases)} ratings and results at least: {cleaned}")
    log(f"loop: deleted the set; {CLEANUP_FUNCTION} removed {cleaned['deleted']} of its ratings and results")
    return {"eval_id": eval_id, "rows": len(cells)}


# --- the run -------------------------------------------------------------------------------

def rehearse(stage: str, *, build_dir: Path, package: bool, drop: list[str], log: Callable[[str], None],
             parameters: dict[str, str] | None = None) -> str:
    """Package, deploy into moto, run the loop; the summary line. RehearsalError/DeployError on failure."""
    import boto3
    from botocore.config import Config as BotoConfig
    from moto.server import ThreadedMotoServer

    from infra.local import cfn_models, lambda_hook, moto_speedups
    from infra.local.lambda_runtime import CodeStore, LambdaPool, describe_function
    from infra.local.stack import configure_moto

    if package:
        started = time.monotonic()
        deploy.package(stage, build_dir)
        log(f"packaged {build_dir / stage} in {time.monotonic() - started:.1f} s")
    plan = deploy.make_plan(stage, REGION, ACCOUNT_ID, build_dir=build_dir, overrides=parameters)
    if not plan.template_path.exists():
        raise RehearsalError(f"{plan.template_path} is missing: run make package STAGE={stage}")

    configure_moto()
    moto_speedups.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update({**LOOPBACK_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                       "AWS_ENDPOINT_URL": endpoint, "MOTO_PORT": str(port)})
    session = boto3.session.Session(region_name=REGION)
    clients = deploy.Clients.from_session(session, endpoint)
    lambda_client = session.client("lambda", endpoint_url=endpoint,
                                   config=BotoConfig(read_timeout=900, retries={"max_attempts": 1}))

    code = CodeStore(deploy.BUILD_DIR / ".rehearsal-code")
    for artifact in sorted(plan.package_dir.glob("*.zip")):  # the app code and the dependencies' layer
        code.add(artifact)
    pool = LambdaPool(lambda name: describe_function(lambda_client, name), code, region=REGION, loopback={**LOOPBACK_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint},
                      log_dir=build_dir / stage / "rehearsal-logs")
    lambda_hook.install_dispatcher(pool.invoke)
    state: dict[str, Any] = {}
    not_emulated: list[str] = []

    def translate(template: dict[str, Any]) -> dict[str, Any]:
        cfn = translate_sam(template)
        for spec in drop:
            cfn = drop_env(cfn, spec)
        cycle = dependency_cycle(cfn)
        if cycle:
            raise RehearsalError("CloudFormation would refuse the template: circular dependency "
                                 + " → ".join(cycle))
        handled = cfn_models.install(endpoint, REGION, {r["Type"] for r in cfn["Resources"].values()})
        state["env"] = template_env(cfn)
        not_emulated.extend(k for k, r in cfn["Resources"].items() if "not emulated" in handled.get(r["Type"], ""))
        log("SAM transform expanded offline (aws-sam-translator)")
        for resource_type, how in handled.items():
            log(f"moto's CloudFormation lacks {resource_type}: {how}")
        return cfn

    gateway = None
    try:
        started = time.monotonic()
        result = deploy.deploy(plan, clients, translate=translate, log=log, wait_delay_s=1,
                               not_emulated=not_emulated)
        log(f"deployed in {time.monotonic() - started:.1f} s")
        resources = result.resources
        functions = {logical: resources[logical] for logical in state["env"]}
        configs = {name: dict((lambda_client.get_function_configuration(FunctionName=name).get("Environment") or {})
                              .get("Variables") or {}) for name in functions.values()}
        problems = check_environments(state["env"], resources, configs)
        if problems:
            raise RehearsalError("function environments:\n  " + "\n  ".join(problems))
        log(f"{len(functions)} functions; each runs with its own environment from GetFunctionConfiguration")

        from app import app as routes_app

        gateway, api_url = start_gateway(LambdaProxyApp(routes_app, lambda_client, resources[API_FUNCTION]), stage)
        if not result.bootstrap.created:
            raise RehearsalError("bootstrap created nothing in a fresh stack")
        loop_started = time.monotonic()
        arn = lambda_client.get_function(FunctionName=resources[SCHEDULED_IMPORT_FUNCTION])["Configuration"]["FunctionArn"]
        try:
            smoke_loop(ApiClient(api_url, result.bootstrap.api_key or ""), session.client("scheduler", endpoint_url=endpoint),
                       arn, log, cleanup=lambda: _invoke(lambda_client, resources[CLEANUP_FUNCTION]))
        except RehearsalError as exc:
            raise RehearsalError(f"{exc}\n{_log_tails(pool)}") from exc
        loop_s = time.monotonic() - loop_started
        again = deploy.bootstrap_mod.bootstrap(clients.dynamodb, clients.dynamodb_client,
                                               deploy.bootstrap_mod.tables_from_resources(resources, plan.stack_name))
        if again.created:
            raise RehearsalError("a second bootstrap created another workspace")
        log("bootstrap again: nothing created")
        invoked = ", ".join(f"{_logical(functions, n)} ×{c}" for n, c in sorted(pool.invocations.items()))
        log(f"invocations: {invoked}")
        problems, metrics = check_telemetry(
            {_logical(functions, n): pool.log_path(n).read_text(errors="replace") for n in pool.invocations},
            {logical: configs[name].get(observability.NAMESPACE_VAR, "") for logical, name in functions.items()})
        if problems:
            raise RehearsalError("telemetry:\n  " + "\n  ".join(problems))
        log("telemetry: every task logged its invocations; EMF " + ", ".join(
            f"{name}={value:g}" for name, value in sorted(metrics.items())))
        return (f"rehearsal: ok ({len(resources)} resources, {len(functions)} functions, "
                f"loop passed in {loop_s:.1f} s)")
    finally:
        if gateway is not None:
            gateway.shutdown()
        pool.close()
        lambda_hook.uninstall()
        server.stop()


def _invoke(lambda_client: Any, function_name: str) -> dict:
    """Run a deployed function once, as its schedule does; its answer (RehearsalError when it failed)."""
    response = lambda_client.invoke(FunctionName=function_name, Payload=b"{}")
    payload = response["Payload"].read()
    if response.get("FunctionError"):
        raise RehearsalError(f"{function_name} failed: {payload[:500]!r}")
    return json.loads(payload)


def check_telemetry(logs: dict[str, str], namespaces: dict[str, str]) -> tuple[list[str], dict[str, float]]:
    """Problems in the invoked functions' logs (logical id → text) and the metrics they emitted
    (name → sum): each task function logged at least one invocation line (``task done`` or
    ``task failed``) naming it with a request id; every EMF blob is in its function's namespace."""
    problems: list[str] = []
    metrics: dict[str, float] = {}
    for logical, text in sorted(logs.items()):
        lines = []
        for raw in text.splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        for blob in (line for line in lines if "_aws" in line):
            for directive in blob["_aws"].get("CloudWatchMetrics", []):
                if directive.get("Namespace") != namespaces.get(logical):
                    problems.append(f"{logical}: EMF namespace {directive.get('Namespace')!r}, its environment "
                                    f"says {namespaces.get(logical)!r}")
                for metric in directive.get("Metrics", []):
                    value = blob.get(metric["Name"], 0)
                    metrics[metric["Name"]] = metrics.get(metric["Name"], 0) + (
                        sum(value) if isinstance(value, list) else value)
        if logical == API_FUNCTION:
            continue
        invocations = [line for line in lines if line.get("message") in ("task done", "task failed")]
        if not any(line.get("function") and line.get("request_id") for line in invocations):
            problems.append(f"{logical}: no structured invocation line with its function and request id")
    return problems, metrics


def _logical(functions: dict[str, str], physical: str) -> str:
    return next((logical for logical, name in functions.items() if name == physical), physical)


def _log_tails(pool: Any, lines: int = 15) -> str:
    """The last lines of each function's log that mention an error."""
    out = []
    for name in sorted(pool.invocations):
        path = pool.log_path(name)
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        if any("Error" in line or "Traceback" in line for line in text):
            out.append(f"--- {name} (log: {path})\n" + "\n".join(text[-lines:]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--build-dir", type=Path, default=deploy.BUILD_DIR)
    parser.add_argument("--skip-package", action="store_true", help="use infra/build/<stage>/ as it is")
    parser.add_argument("--parameter", action="append", default=[], metavar="Key=Value",
                        help="a template parameter, as for make deploy (defaults otherwise)")
    parser.add_argument("--drop-env", action="append", default=[], metavar="Logical:VAR",
                        help="remove a variable from a function's environment first (to see the rehearsal catch it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    started = time.monotonic()
    try:
        line = rehearse(args.stage, build_dir=args.build_dir.resolve(), package=not args.skip_package,
                        drop=args.drop_env, parameters=deploy.parse_overrides(args.parameter), log=lambda m: print(f"[{time.monotonic() - started:5.1f} s] {m}", flush=True))
    except (RehearsalError, deploy.DeployError) as exc:
        print(f"rehearsal: FAILED: {exc}", flush=True)
        return 1
    print(f"total {time.monotonic() - started:.1f} s", flush=True)
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
