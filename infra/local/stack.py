"""The AWS side of the local stack: moto's server on loopback, the resources of
infra/resources.py created in it, Lambda invokes routed to the app's handlers, and the
state snapshotted to a data folder so a restart loses nothing."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from infra import resources
from infra.local import lambda_hook, moto_speedups
from infra.local.idle_gc import IdleCollector

logger = logging.getLogger(__name__)

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "iofold/local",  # the template sets iofold/<stack> (observability.py)
}


def configure_moto() -> None:
    """Switch moto to its ASL interpreter (with Distributed Map as on AWS) and its Docker-free Lambda."""
    from moto.core.config import default_user_config

    from infra.local import moto_asl

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    default_user_config["lambda"]["use_docker"] = False
    moto_asl.install()


class LocalStack:
    """moto on loopback with iofold's resources; ``start()`` then ``stop()``."""

    def __init__(self, handlers: dict[str, Callable[[Any, Any], Any]], data_dir: Path | None = None,
                 *, snapshot_every_s: float = 10.0, process_functions: tuple[str, ...] = ()):
        """``process_functions`` run in worker processes of their own (infra/local/source_functions.py),
        the others in this process."""
        self.handlers = handlers
        self.process_functions = process_functions
        self._pools: list[Any] = []
        self.data_dir = data_dir
        self.snapshot_every_s = snapshot_every_s
        self.endpoint_url = ""
        self.provisioned: Provisioned | None = None
        self._server = None
        self._stop = threading.Event()
        self._snapshot_lock = threading.Lock()
        self._snapshot_thread: threading.Thread | None = None
        self._gc: IdleCollector | None = None

    def start(self) -> "LocalStack":
        """Start moto, point this process's AWS clients at it, create or reload everything."""
        from moto.server import ThreadedMotoServer

        from chalicelib.clients import reset_clients

        configure_moto()
        moto_speedups.install()
        self._gc = IdleCollector().start()  # moto's state is this process's heap: full collections when idle
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        os.environ.update(LOCAL_ENV)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
        os.environ["MOTO_PORT"] = str(port)
        reset_clients()
        lambda_hook.install(scoped_handlers(self.handlers))
        self.provisioned = provision()
        os.environ.update(self.provisioned.env)
        reset_clients()
        if self.process_functions:
            self._route(self.process_functions)
        if self.data_dir:
            make_private_dir(self.data_dir)
        if self.data_dir and (self.data_dir / "snapshot").exists():
            restore_snapshot(self.data_dir / "snapshot")
        if self.data_dir and self.snapshot_every_s:
            self._snapshot_thread = threading.Thread(target=self._snapshot_loop, daemon=True, name="snapshot")
            self._snapshot_thread.start()
        return self

    def snapshot(self) -> None:
        """Write tables, objects and the KMS key to the data folder (atomically)."""
        if not self.data_dir:
            return
        with self._snapshot_lock:
            write_snapshot(self.data_dir / "snapshot")

    def stop(self) -> None:
        """Snapshot, then stop the server."""
        self._stop.set()
        if self._snapshot_thread:
            self._snapshot_thread.join(timeout=30)
        self.snapshot()
        lambda_hook.uninstall()
        for pool in self._pools:
            pool.close()
        if self._server:
            self._server.stop()
        if self._gc:
            self._gc.stop()

    @contextlib.contextmanager
    def in_processes(self, names: tuple[str, ...]) -> Iterator[Any]:
        """Within the block, the functions ``names`` run in worker processes (bench/scale.py compares)."""
        pool = self._route(names)
        try:
            yield pool
        finally:
            lambda_hook.unroute(pool.invoke)
            self._pools.remove(pool)
            pool.close()

    def _route(self, names: tuple[str, ...]) -> Any:
        from infra.local.source_functions import SourcePool

        log_dir = self.data_dir / "logs" if self.data_dir else Path(tempfile.gettempdir()) / "iofold-function-logs"
        pool = SourcePool(names, log_dir=log_dir, region=LOCAL_ENV["AWS_REGION"])
        lambda_hook.route(pool.owns, pool.invoke)
        self._pools.append(pool)
        return pool

    def _snapshot_loop(self) -> None:
        while not self._stop.wait(self.snapshot_every_s):
            try:
                self.snapshot()
            except OSError as exc:
                logger.warning("snapshot failed: %s", exc)


@dataclass
class Provisioned:
    """What provision() created: the environment variables naming it (what the template's
    Ref/GetAtt give on AWS) and each function's ARN."""

    env: dict[str, str]
    function_arns: dict[str, str]


def provision(prefix: str | None = None) -> Provisioned:
    """Create every resource of infra/resources.py in the (local) account, idempotently.

    Locally this is the "CloudFormation": it chooses the names (``<prefix>-traces`` …)."""
    from chalicelib import config
    from chalicelib.clients import aws_client
    from chalicelib.config import get_settings

    prefix = prefix or os.environ.get("IOFOLD_RESOURCE_PREFIX") or "iofold-local"
    env: dict[str, str] = {}
    ddb = aws_client("dynamodb")
    existing = set(ddb.list_tables()["TableNames"])
    for table in resources.TABLES:
        name = env[config.table_var(table.name)] = f"{prefix}-{table.name}"
        if name in existing:
            continue
        kwargs: dict[str, Any] = dict(
            TableName=name, KeySchema=table.key_schema(), AttributeDefinitions=table.attribute_definitions(),
            BillingMode="PAY_PER_REQUEST",
        )
        if table.indexes:
            kwargs["GlobalSecondaryIndexes"] = table.global_secondary_indexes()
        ddb.create_table(**kwargs)

    for table in resources.TABLES:
        _enable_ttl(ddb, env[config.table_var(table.name)], table.ttl_attribute)

    env[config.BUCKET_VAR] = f"{prefix}-data"
    aws_client("s3").create_bucket(Bucket=env[config.BUCKET_VAR])
    _expire_objects(env[config.BUCKET_VAR], get_settings().job_retention_days)

    kms = aws_client("kms")
    alias = env[config.KMS_KEY_VAR] = f"alias/{prefix}-credentials"
    if alias not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}:
        key_id = kms.create_key(Description="iofold third-party credentials")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)

    role_arn = _role(f"{prefix}-lambda", "lambda.amazonaws.com")
    env[config.SCHEDULE_ROLE_ARN_VAR] = _role(f"{prefix}-scheduler", "scheduler.amazonaws.com")
    states_role_arn = _role(f"{prefix}-states", "states.amazonaws.com")

    lam = aws_client("lambda")
    existing_fns = {f["FunctionName"]: f["FunctionArn"] for f in lam.list_functions()["Functions"]}
    arns = {}
    for name in sorted(_all_function_names()):
        fn_name = f"{prefix}-{name}"
        arns[name] = existing_fns.get(fn_name) or lam.create_function(
            FunctionName=fn_name, Runtime="python3.11", Role=role_arn, Handler="app.handler",
            Code={"ZipFile": _placeholder_zip()}, Timeout=900)["FunctionArn"]
    env[config.SANDBOX_FUNCTION_VAR] = f"{prefix}-sandbox"
    env[config.SCHEDULE_TARGET_ARN_VAR] = arns["scheduled_import"]

    scheduler = aws_client("scheduler")
    group = env[config.SCHEDULE_GROUP_VAR] = prefix
    if group not in {g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]}:
        scheduler.create_schedule_group(Name=group)

    env[config.LLM_SECRET_ARN_VAR] = _llm_secret(f"{prefix}-llm-key", os.environ.get("ANTHROPIC_API_KEY"))

    sfn = aws_client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    subs = resources.definition_substitutions(arns.__getitem__)
    for sm in resources.STATE_MACHINES:
        definition = resources.render_definition(sm, subs)
        name = f"{prefix}-{sm.name}"
        if name in machines:
            sfn.update_state_machine(stateMachineArn=machines[name], definition=definition)
            arn = machines[name]
        else:
            arn = sfn.create_state_machine(name=name, definition=definition, roleArn=states_role_arn)["stateMachineArn"]
        env[config.state_machine_var(sm.name)] = arn
    return Provisioned(env=env, function_arns=arns)


def _role(name: str, service: str) -> str:
    """An IAM role trusted by ``service`` (created once); its ARN."""
    from chalicelib.clients import aws_client

    iam = aws_client("iam")
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _llm_secret(name: str, value: str | None) -> str:
    """The LLM key's secret: empty (no version) unless ANTHROPIC_API_KEY is set, as the template creates it."""
    from chalicelib.clients import aws_client

    sm = aws_client("secretsmanager")
    try:
        arn = sm.describe_secret(SecretId=name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        arn = sm.create_secret(Name=name, Description="iofold: the LLM (Anthropic) API key")["ARN"]
    if value:
        sm.put_secret_value(SecretId=arn, SecretString=value)
    return arn


def scoped_handlers(handlers: dict[str, Callable[[Any, Any], Any]]) -> dict[str, Callable[[Any, Any], Any]]:
    """Each handler, run with only its own declared resource variables visible (as on AWS, where
    its environment has nothing else); undeclared functions are refused here, at start."""
    return {name: _scoped(handler, resources.function(name).env_vars()) for name, handler in handlers.items()}


def _scoped(handler: Callable[[Any, Any], Any], names: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    from chalicelib.config import only_variables

    def run(event: Any, context: Any) -> Any:
        with only_variables(names):
            return handler(event, context)

    return run


def scope_api(app: Any) -> None:
    """Make every API request see only the API function's declared variables (a Chalice middleware)."""
    from chalicelib.config import only_variables

    if getattr(app, "_iofold_scoped", False):
        return
    names = resources.function(resources.API_FUNCTION).env_vars()

    def api_scope(event: Any, get_response: Callable[[Any], Any]) -> Any:
        with only_variables(names):
            return get_response(event)

    app.register_middleware(api_scope, "http")
    app._iofold_scoped = True


def _all_function_names() -> set[str]:
    names = {f for sm in resources.STATE_MACHINES for f in sm.functions}
    names.update(resources.EXTRA_FUNCTIONS)
    return names


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


# --- snapshot ---------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) with mode 0700, or tighten it to 0700 if it exists:
    the data folder holds API keys, sealed credentials and the key that opens them."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_private_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text`` in a file readable by its owner only: a temporary
    file created with mode 0600 (whatever the umask) beside it, then renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, doc: Any) -> None:
    make_private_dir(path.parent)
    write_private_file(path, json.dumps(doc))


def write_snapshot(folder: Path) -> None:
    """Dump every table's items (DynamoDB JSON), every object and the KMS key material."""
    from chalicelib.clients import aws_client
    from chalicelib.config import get_settings

    s = get_settings()
    ddb = aws_client("dynamodb")
    tables: dict[str, list] = {}
    for table in resources.TABLES:
        items: list = []
        kwargs: dict[str, Any] = {"TableName": s.table(table.name)}
        while True:
            page = ddb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        tables[table.name] = items
    _write_json(folder / "tables.json", _encode(tables))

    s3 = aws_client("s3")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s.bucket):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=s.bucket, Key=obj["Key"])["Body"].read()
            objects[obj["Key"]] = body
    _write_json(folder / "objects.json", _encode(objects))
    _write_json(folder / "kms.json", _encode(_kms_state()))


def restore_snapshot(folder: Path) -> None:
    """Load what write_snapshot wrote into freshly provisioned resources."""
    from chalicelib.clients import aws_client
    from chalicelib.config import get_settings

    s = get_settings()
    kms_file = folder / "kms.json"
    if kms_file.exists():
        _restore_kms(_decode(json.loads(kms_file.read_text())))
    tables_file = folder / "tables.json"
    if tables_file.exists():
        ddb = aws_client("dynamodb")
        for name, items in _decode(json.loads(tables_file.read_text())).items():
            for start in range(0, len(items), 25):
                requests = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
                ddb.batch_write_item(RequestItems={s.table(name): requests})
    objects_file = folder / "objects.json"
    if objects_file.exists():
        s3 = aws_client("s3")
        for key, body in _decode(json.loads(objects_file.read_text())).items():
            s3.put_object(Bucket=s.bucket, Key=key, Body=body)


def _kms_backend():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kms.models import kms_backends

    from chalicelib.config import get_settings

    return kms_backends[DEFAULT_ACCOUNT_ID][get_settings().region]


def _kms_state() -> dict:
    """The credentials key's id and material (moto internals: covered by the restart test)."""
    from chalicelib.clients import aws_client
    from chalicelib.config import get_settings

    key_id = aws_client("kms").describe_key(KeyId=get_settings().kms_key)["KeyMetadata"]["KeyId"]
    return {"key_id": key_id, "material": _kms_backend().keys[key_id].key_material}


def _restore_kms(state: dict) -> None:
    """Give the freshly created key the old id and material, so old ciphertexts decrypt."""
    from chalicelib.clients import aws_client
    from chalicelib.config import get_settings

    s = get_settings()
    kms = aws_client("kms")
    new_id = kms.describe_key(KeyId=s.kms_key)["KeyMetadata"]["KeyId"]
    old_id = state["key_id"]
    backend = _kms_backend()
    if new_id != old_id:
        key = backend.keys.pop(new_id)
        key.id = old_id
        key.arn = key.arn.replace(new_id, old_id)
        backend.keys[old_id] = key
        kms.update_alias(AliasName=s.kms_key, TargetKeyId=old_id)
    backend.keys[old_id].key_material = state["material"]


def _enable_ttl(ddb: Any, table_name: str, attribute: str | None) -> None:
    """The table's TimeToLiveSpecification, as the template declares it (idempotent)."""
    if not attribute:
        return
    status = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]["TimeToLiveStatus"]
    if status not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(TableName=table_name,
                                TimeToLiveSpecification={"AttributeName": attribute, "Enabled": True})


def _expire_objects(bucket: str, job_retention_days: int) -> None:
    """The data bucket's lifecycle rules (infra/resources.EXPIRING_PREFIXES), as the template declares them."""
    from chalicelib.clients import aws_client

    rules = [{"ID": "expire-" + e.prefix.strip("/"), "Status": "Enabled", "Filter": {"Prefix": e.prefix},
              "Expiration": {"Days": e.days or job_retention_days},
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}} for e in resources.EXPIRING_PREFIXES]
    aws_client("s3").put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
