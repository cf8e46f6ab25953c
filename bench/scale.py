"""Scale and cost bench (issue #13 item 5): execute one eval over many traces on the local stack,
count every AWS call the product's functions make, read the state machines' histories, and
extrapolate to 1,000,000 traces: calls, history events per execution, the largest state payload,
and dollars at public on-demand prices. The import path is measured the same way two ways: NDJSON
uploads (→ import_traces, one job per ≤ 400-trace body) while the traces are loaded, one file of N traces
PUT to a presigned upload URL and imported as one job (POST /v1/traces/uploads → PUT → .../import), and
one connector import job (POST /v1/traces/import) over a fake Langfuse serving as many traces.

How it measures (nothing here changes what the product does):
- AWS calls: botocore ``before-call``/``after-call`` handlers on every client the product builds
  (chalicelib.clients.register_aws_event_handler), each call attributed to the Lambda function
  running on that thread (the handlers are wrapped before the local stack starts), or to ``api``
  (the REST API: starting the job, the bench's polling). DynamoDB request units are computed from
  the items' sizes by DynamoDB's rules (1 KB per write unit, 4 KB per read unit, eventually
  consistent reads at half, transactions double, each write also written to every GSI whose keys
  the item has, at the size the GSI projects).
- Lambda: invocations and wall-clock duration of every handler (the local duration is a proxy for
  the billed duration: see the notes), priced at each function's declared memory
  (infra/resources.FUNCTIONS).
- Step Functions: GetExecutionHistory of every execution the phase started: events, state
  transitions (state entries + task retries), the largest input/output/parameters in any event,
  inline Map iterations; Distributed Map runs via ListMapRuns + DescribeMapRun (child executions),
  their transitions counted from the ItemProcessor's states.
- Two sizes (``--traces N`` and N/4) are measured; every figure is fitted as a + b·traces through
  them and evaluated at 1,000,000 (limits) or as a per-trace slope (cost).

    .venv/bin/python -m bench.scale                  # 20,000 (and 5,000) traces: ~5 min on a quiet 2-core machine
    .venv/bin/python -m bench.scale --traces 100000  # the issue's size: ~25-30 min quiet (upload ~350 and
                                                     # execute ~300 traces/s); hours on a machine shared at load 20+
    .venv/bin/python -m bench.scale --smoke          # 50 and 200 traces, chunks of 25, prints only (CI-sized)

The default is 20,000 so that ``make bench`` stays within minutes; the figures are linear in the
traces (the fit shows it), so the larger size changes the extrapolation little.

Writes bench/results/scale.md (not in smoke mode).
"""

from __future__ import annotations

import argparse
import contextvars
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.common import BenchStack, Report, fmt, local_stack, log, median
from bench.sandbox import EVAL_UNIFIED
from chalicelib.storage import item_size

DEFAULT_TRACES = 20_000
SMOKE_TRACES = 200
SMOKE_CHUNK_SIZE = 25  # so the smoke sizes (50, 200) span several chunks, as the full sizes do
TARGET_TRACES = 1_000_000
UPLOAD_BYTES = 5_000_000  # per upload body; the API takes 6 MB
EXECUTE_REPEATS = 1
COMPARE_REPEATS = 5

# --- public on-demand prices, us-east-1 (USD), as listed on aws.amazon.com/<service>/pricing ----------
PRICES_AS_OF = "2026-12 (unchanged since the DynamoDB on-demand cut of 2024-11-01)"
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86, first 6 billion GB-s a month
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
SFN_STANDARD_PER_TRANSITION = 0.025 / 1_000
SFN_EXPRESS_PER_REQUEST = 1.00 / 1_000_000
SFN_EXPRESS_PER_GB_SECOND = 0.00001667  # first 1,000 GB-hours; billed in 64 MB steps
SFN_EXPRESS_MIN_MB = 64
DDB_PER_WRITE_UNIT = 0.625 / 1_000_000  # on-demand; was $1.25 before 2024-11-01
DDB_PER_READ_UNIT = 0.125 / 1_000_000  # on-demand; was $0.25 before 2024-11-01
S3_PER_PUT = 0.005 / 1_000  # PUT, COPY, POST, LIST
S3_PER_GET = 0.0004 / 1_000  # GET, HEAD and all other requests
KMS_PER_REQUEST = 0.03 / 10_000

# --- limits and targets ---------------------------------------------------------------------------
HISTORY_EVENTS_LIMIT = 25_000
STATE_PAYLOAD_LIMIT = 256 * 1024
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
ITEM_SIZE_LIMIT = 400 * 1024
TARGET_PER_MILLION_EVALUATIONS = 2.00
TARGET_PER_MILLION_IMPORTED = 1.00
THROUGHPUT_TARGET = 500  # local execute, traces per second

S3_PUT_CLASS = frozenset({"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2",
                          "ListObjectVersions", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"})
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
DDB_TRANSACTIONAL = frozenset({"TransactWriteItems", "TransactGetItems"})
API = "api"  # calls made outside any Lambda handler: the REST API


# --- DynamoDB item sizes (DynamoDB's rules, on the wire format: chalicelib.storage.item_size) ---------

def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class IndexShape:
    """What a GSI holds of an item: its key attributes and projection."""

    keys: tuple[str, ...]
    projection: str
    included: tuple[str, ...] = ()


def table_shapes() -> dict[str, tuple[tuple[str, ...], tuple[IndexShape, ...]]]:
    """Logical table name → (its key attributes, its GSIs), from infra/resources.TABLES."""
    from infra import resources

    shapes = {}
    for table in resources.TABLES:
        keys = tuple(k for k in (table.hash_key, table.range_key) if k)
        indexes = []
        for gsi in table.global_secondary_indexes():
            projection = gsi.get("Projection") or {"ProjectionType": "ALL"}
            indexes.append(IndexShape(tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                                      projection.get("ProjectionType", "ALL"),
                                      tuple(projection.get("NonKeyAttributes") or ())))
        shapes[table.name] = (keys, tuple(indexes))
    return shapes


def gsi_write_units(item: dict, table_keys: tuple[str, ...], indexes: Iterable[IndexShape]) -> int:
    """Write units the table's GSIs consume for one written item (an item lacking an index's keys is not in it)."""
    units = 0
    for index in indexes:
        if not all(k in item for k in index.keys):
            continue
        if index.projection == "ALL":
            projected = item
        else:
            names = set(table_keys) | set(index.keys) | (set(index.included) if index.projection == "INCLUDE" else set())
            projected = {k: v for k, v in item.items() if k in names}
        units += write_units(item_size(projected))
    return units


# --- what one phase used ----------------------------------------------------------------------

@dataclass
class Usage:
    """Everything one measured phase used: AWS calls, request units, Lambda time."""

    calls: Counter = field(default_factory=Counter)  # (function, service, operation) → calls
    ddb_read_units: Counter = field(default_factory=Counter)  # function → read request units
    ddb_write_units: Counter = field(default_factory=Counter)  # function → write request units
    lambda_invocations: Counter = field(default_factory=Counter)  # function → invocations
    lambda_seconds: Counter = field(default_factory=Counter)  # function → summed wall seconds
    largest_lambda_payload: int = 0  # bytes of the largest invoke request or response
    largest_item: int = 0  # bytes of the largest item written

    def calls_by(self, *, include_api: bool = False) -> Counter:
        """(service, operation) → calls, the API's own calls left out unless asked."""
        out: Counter = Counter()
        for (function, service, operation), n in self.calls.items():
            if include_api or function != API:
                out[(service, operation)] += n
        return out

    def total_calls(self, *, include_api: bool = False) -> int:
        return sum(self.calls_by(include_api=include_api).values())


class Recorder:
    """Counts AWS calls and Lambda time into the current phase's :class:`Usage` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the function running in this context: a context variable, so it follows work a handler hands
        # to a thread pool with contextvars.copy_context() (the trace repository's concurrent ranged GETs)
        self._function: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_function", default=None)
        self.phase: str | None = None
        self.phases: dict[str, Usage] = {}
        self._tables: dict[str, str] = {}  # physical → logical
        self._shapes = table_shapes()
        # functions the product invokes itself (the sandbox): their request was measured at the Invoke, so the
        # handler's wrapper does not encode the event again (a sandbox event is ~2 MB of traces)
        self._invoked: set[str] = set()

    # -- phases
    def start(self, phase: str) -> Usage:
        """Count into a fresh ``phase`` from now on."""
        with self._lock:
            self.phases[phase] = Usage()
            self.phase = phase
            return self.phases[phase]

    def stop(self) -> None:
        with self._lock:
            self.phase = None

    def _usage(self) -> Usage | None:
        return self.phases.get(self.phase) if self.phase else None

    @property
    def function(self) -> str:
        return self._function.get() or API

    # -- Lambda handlers
    def wrap_handlers(self, handlers: dict[str, Callable[[Any, Any], Any]]) -> dict[str, Callable[[Any, Any], Any]]:
        """Each handler timed and marked as the function running on its thread."""
        return {name: self._timed(name, handler) for name, handler in handlers.items()}

    def _timed(self, name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def run(event: Any, context: Any) -> Any:
            token = self._function.set(name)
            started = time.perf_counter()
            result = None
            try:
                result = handler(event, context)
                return result
            finally:
                seconds = time.perf_counter() - started
                self._function.reset(token)
                size = len(json.dumps(result, default=str))
                if name not in self._invoked:
                    size = max(size, len(json.dumps(event, default=str)))
                with self._lock:
                    usage = self._usage()
                    if usage is not None:
                        usage.lambda_invocations[name] += 1
                        usage.lambda_seconds[name] += seconds
                        usage.largest_lambda_payload = max(usage.largest_lambda_payload, size)

        run.__name__ = getattr(handler, "__name__", name)
        return run

    # -- botocore events
    def install(self) -> None:
        """Put the handlers on every client the product builds from now on."""
        from chalicelib import clients, wiring

        clients.register_aws_event_handler("before-call", self.before_call)
        clients.register_aws_event_handler("after-call", self.after_call)
        wiring.reset()

    def uninstall(self) -> None:
        from chalicelib import clients, wiring

        clients.unregister_aws_event_handlers()
        wiring.reset()

    def before_call(self, model: Any, params: dict, context: dict, **_: Any) -> None:
        """Count the call; for DynamoDB writes, the write units of what it writes."""
        service = model.service_model.service_name
        operation = model.name
        function = self.function
        context["iofold_bench_function"] = function
        units = 0
        largest = 0
        if service == "dynamodb":
            body = _json_body(params)
            context["iofold_bench_consistent"] = bool(body.get("ConsistentRead"))
            if operation in ("PutItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem"):
                units, largest = self._write_units(operation, body)
            elif operation == "UpdateItem":
                context["iofold_bench_update"] = (context.get("client_region"), body["TableName"], body["Key"])
        elif service == "lambda" and operation == "Invoke":
            largest = 0
            body = params.get("body")
            # …/functions/<prefix>-<name>/invocations: that handler's requests are measured here
            self._invoked.add(str(params.get("url_path", "")).rstrip("/").split("/")[-2].rsplit("-", 1)[-1])
            with self._lock:
                usage = self._usage()
                if usage is not None and body is not None:
                    usage.largest_lambda_payload = max(usage.largest_lambda_payload, len(body))
        with self._lock:
            usage = self._usage()
            if usage is None:
                return
            usage.calls[(function, service, operation)] += 1
            usage.ddb_write_units[function] += units
            usage.largest_item = max(usage.largest_item, largest)

    def after_call(self, http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        """DynamoDB reads (and updates): request units from the sizes of the items they touched."""
        if model.service_model.service_name != "dynamodb":
            return
        function = context.get("iofold_bench_function", API)
        operation = model.name
        # the raw response: boto3's resources turn ``parsed`` into Python values before this handler runs
        parsed = json.loads(http_response.content or b"{}") if http_response.status_code == 200 else {}
        read = 0.0
        write = 0
        if operation == "GetItem" and parsed.get("Item"):
            read = read_units(item_size(parsed["Item"]), consistent=context.get("iofold_bench_consistent", False))
        elif operation == "BatchGetItem":
            read = sum(read_units(item_size(i), False) for items in parsed.get("Responses", {}).values() for i in items)
        elif operation in ("Query", "Scan"):
            size = sum(item_size(i) for i in parsed.get("Items", []))
            read = read_units(size, context.get("iofold_bench_consistent", False))
        elif operation == "TransactGetItems":
            read = sum(2 * read_units(item_size(r["Item"]), True) for r in parsed.get("Responses", []) if r.get("Item"))
        elif operation == "UpdateItem" and "iofold_bench_update" in context:
            write = self._update_units(*context["iofold_bench_update"])
        with self._lock:
            usage = self._usage()
            if usage is None:
                return
            usage.ddb_read_units[function] += read
            usage.ddb_write_units[function] += write

    def _logical(self, physical: str) -> str:
        if physical not in self._tables:
            from chalicelib.config import get_settings

            settings = get_settings()
            for name in self._shapes:
                try:
                    if settings.table(name) == physical:
                        self._tables[physical] = name
                except Exception:  # noqa: BLE001 - a variable this function cannot see: try the next name
                    continue
        return self._tables.get(physical, physical)

    def _item_units(self, table: str, item: dict) -> tuple[int, int]:
        size = item_size(item)
        keys, indexes = self._shapes.get(self._logical(table), ((), ()))
        return write_units(size) + gsi_write_units(item, keys, indexes), size

    def _update_units(self, region: str | None, table: str, key: dict) -> int:
        """Write units of an UpdateItem: the item's size after it (read from moto, in this process), with its GSIs."""
        stored = stored_item(region, table, key)
        if stored is None:
            return 1
        return self._item_units(table, stored)[0]

    def _write_units(self, operation: str, body: dict) -> tuple[int, int]:
        """(write units, largest item) of a PutItem / BatchWriteItem / TransactWriteItems / DeleteItem body."""
        units = 0
        largest = 0
        if operation == "PutItem":
            units, largest = self._item_units(body["TableName"], body["Item"])
        elif operation == "DeleteItem":
            units = 1
        elif operation == "BatchWriteItem":
            for table, requests in body.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        n, size = self._item_units(table, request["PutRequest"]["Item"])
                        units += n
                        largest = max(largest, size)
                    else:
                        units += 1
        elif operation == "TransactWriteItems":
            for entry in body.get("TransactItems", []):
                if "Put" in entry:
                    n, size = self._item_units(entry["Put"]["TableName"], entry["Put"]["Item"])
                    units += 2 * n
                    largest = max(largest, size)
                else:
                    units += 2
        return units, largest


def stored_item(region: str | None, table_name: str, key: dict) -> dict | None:
    """The item as moto holds it now (wire format), or None; the local stack's moto runs in this process."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region or "us-east-1"].get_table(table_name)
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        item = table.get_item(DynamoType(key[table.hash_key_attr]), range_value)
    except Exception:  # noqa: BLE001 - moto elsewhere (another process): count the update as one unit
        return None
    return None if item is None else item.to_json()["Attributes"]


def _json_body(params: dict) -> dict:
    body = params.get("body")
    if not body:
        return {}
    return json.loads(body)


# --- Step Functions histories ----------------------------------------------------------------------

@dataclass
class ExecutionStats:
    """One state machine execution, read from its history (and its map runs)."""

    machine: str
    events: int
    transitions: int
    largest_payload: int
    map_iterations: int
    child_executions: int = 0
    child_transitions: int = 0
    express_child_executions: int = 0


_PAYLOAD_FIELDS = ("input", "output", "parameters")


def largest_payload(events: list[dict]) -> int:
    """Bytes of the largest input, output or parameters any history event carries."""
    largest = 0
    for event in events:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                for name in _PAYLOAD_FIELDS:
                    value = details.get(name)
                    if isinstance(value, str):
                        largest = max(largest, len(value.encode()))
    return largest


def state_transitions(events: list[dict]) -> int:
    """Billed state transitions: every state entered, plus every task retry (a TaskScheduled beyond
    the first after its state was entered)."""
    types = Counter(e["type"] for e in events)
    entered = sum(n for t, n in types.items() if t.endswith("StateEntered"))
    retries = max(0, types["TaskScheduled"] - types["TaskStateEntered"])
    return entered + retries


def distributed_maps(definition: dict) -> list[dict]:
    """Every Map state in DISTRIBUTED mode (at any depth) of a state machine definition."""
    found = []

    def walk(states: dict) -> None:
        for state in states.values():
            if state.get("Type") == "Map":
                processor = state.get("ItemProcessor") or state.get("Iterator") or {}
                if (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
                    found.append(state)
                walk(processor.get("States", {}))
            for branch in state.get("Branches", []):
                walk(branch.get("States", {}))

    walk(definition.get("States", {}))
    return found


def execution_stats(sfn: Any, execution_arn: str, machine: str, definition: dict) -> ExecutionStats:
    """History figures of one execution; Distributed Map child executions from its map runs."""
    events: list[dict] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    stats = ExecutionStats(machine=machine, events=len(events), transitions=state_transitions(events),
                           largest_payload=largest_payload(events),
                           map_iterations=sum(e["type"] == "MapIterationStarted" for e in events))
    maps = distributed_maps(definition)
    if not maps:
        return stats
    states_per_child = max(len(m["ItemProcessor"].get("States", {})) for m in maps)
    express = any(m["ItemProcessor"]["ProcessorConfig"].get("ExecutionType") == "EXPRESS" for m in maps)
    for run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
        counts = sfn.describe_map_run(mapRunArn=run["mapRunArn"])["executionCounts"]
        stats.child_executions += counts["total"]
    if express:
        stats.express_child_executions = stats.child_executions
    else:
        stats.child_transitions = stats.child_executions * states_per_child
    return stats


class Executions:
    """The executions each phase started, found by listing every state machine before and after it."""

    def __init__(self, endpoint_url: str):
        import boto3

        # a client of its own: its calls are the bench's, not counted
        self.sfn = boto3.client("stepfunctions", endpoint_url=endpoint_url, region_name="us-east-1")
        self._seen: set[str] = set()
        self._definitions: dict[str, dict] = {}

    def _all(self) -> list[tuple[str, str, str]]:
        out = []
        for machine in self.sfn.list_state_machines()["stateMachines"]:
            arn = machine["stateMachineArn"]
            if arn not in self._definitions:
                self._definitions[arn] = json.loads(self.sfn.describe_state_machine(stateMachineArn=arn)["definition"])
            kwargs: dict[str, Any] = {"stateMachineArn": arn}
            while True:
                page = self.sfn.list_executions(**kwargs)
                out += [(e["executionArn"], machine["name"], arn) for e in page["executions"]]
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        return out

    def mark(self) -> None:
        """Everything listed now belongs to earlier phases."""
        self._seen.update(arn for arn, _, _ in self._all())

    def new_stats(self, timeout_s: float = 120) -> list[ExecutionStats]:
        """Figures of every execution started since :meth:`mark`, once each has ended."""
        fresh = [e for e in self._all() if e[0] not in self._seen]
        out = []
        for execution_arn, name, machine_arn in fresh:
            deadline = time.monotonic() + timeout_s
            while self.sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{execution_arn} still running")
                time.sleep(0.2)
            out.append(execution_stats(self.sfn, execution_arn, _short_machine(name), self._definitions[machine_arn]))
            self._seen.add(execution_arn)
        return out


def _short_machine(name: str) -> str:
    from infra import resources

    for sm in resources.STATE_MACHINES:
        if name.endswith("-" + sm.name):
            return sm.name
    return name


# --- the cost model ------------------------------------------------------------------------------

def function_memory_mb() -> dict[str, int]:
    """Each function's declared memory (infra/resources.FUNCTIONS)."""
    from infra import resources

    return {f.name: f.memory_mb for f in resources.FUNCTIONS}


def cost_usd(usage: Usage, executions: list[ExecutionStats], memory_mb: dict[str, int]) -> dict[str, float]:
    """Dollars of one phase at the public on-demand prices above, by line item (the API's own calls
    left out: they are per request, not per trace). Lambda GB-s = declared memory × measured duration."""
    functions = [f for f in usage.lambda_invocations if f != API]
    gb_seconds = sum(memory_mb.get(f, 128) / 1024 * usage.lambda_seconds[f] for f in functions)
    calls = usage.calls_by()
    s3_put = sum(n for (service, op), n in calls.items() if service == "s3" and op in S3_PUT_CLASS)
    s3_get = sum(n for (service, op), n in calls.items() if service == "s3" and op not in S3_PUT_CLASS
                 and op not in S3_FREE)
    kms = sum(n for (service, _), n in calls.items() if service == "kms")
    transitions = sum(e.transitions + e.child_transitions for e in executions)
    express = sum(e.express_child_executions for e in executions)
    express_seconds = sum(usage.lambda_seconds[f] for f in functions) if express else 0.0
    return {
        "Lambda requests": sum(usage.lambda_invocations[f] for f in functions) * LAMBDA_PER_REQUEST,
        "Lambda duration (GB-s)": gb_seconds * LAMBDA_PER_GB_SECOND,
        "Step Functions standard transitions": transitions * SFN_STANDARD_PER_TRANSITION,
        "Step Functions express children": (express * SFN_EXPRESS_PER_REQUEST
                                            + express_seconds * SFN_EXPRESS_MIN_MB / 1024 * SFN_EXPRESS_PER_GB_SECOND),
        "DynamoDB writes (WRU)": sum(usage.ddb_write_units[f] for f in usage.ddb_write_units if f != API)
        * DDB_PER_WRITE_UNIT,
        "DynamoDB reads (RRU)": sum(usage.ddb_read_units[f] for f in usage.ddb_read_units if f != API)
        * DDB_PER_READ_UNIT,
        "S3 PUT/LIST requests": s3_put * S3_PER_PUT,
        "S3 GET requests": s3_get * S3_PER_GET,
        "KMS requests": kms * KMS_PER_REQUEST,
    }


# --- extrapolation -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    """value ≈ intercept + slope × traces, through two measured points (or through the origin for one)."""

    intercept: float
    slope: float

    def at(self, traces: float) -> float:
        return self.intercept + self.slope * traces


def fit(points: list[tuple[float, float]], *, through_origin: bool = False) -> Line:
    """The line through the two points with the fewest and the most traces; through the origin when
    asked or when only one size was measured. A fitted slope below zero (noise) becomes zero."""
    points = sorted(points)
    (x0, y0), (x1, y1) = points[0], points[-1]
    if through_origin or x1 == x0:
        slope = y1 / x1 if x1 else 0.0
        return Line(0.0, slope)
    slope = (y1 - y0) / (x1 - x0)
    if slope < 0:
        return Line(max(y0, y1), 0.0)
    return Line(y0 - slope * x0, slope)


# --- the workload --------------------------------------------------------------------------------

EVAL_CODE = EVAL_UNIFIED  # the cheap eval bench/sandbox.py runs end to end



@dataclass
class Workspace:
    api: Any
    traces: int
    version_id: str
    upload_s: float
    trace_kb: float


def upload_traces(api: Any, n: int, seed: int, ratings: dict[str, str]) -> tuple[float, float]:
    """Generate and upload ``n`` demo traces in NDJSON bodies under UPLOAD_BYTES, one job each, waiting
    for each job; (seconds, mean KB per trace). Fills ``ratings`` (external id → rating)."""
    from infra.local.demo_traces import make_demo_cases

    started = time.perf_counter()
    total_bytes = 0
    made = 0
    batch = 0
    while made < n:
        cases = make_demo_cases(n=min(400, n - made), seed=seed * 100_000 + batch)
        batch += 1
        made += len(cases)
        lines = []
        for case in cases:
            ratings[case.trace["id"]] = case.rating
            lines.append(json.dumps(case.trace, separators=(",", ":")))
        body = "\n".join(lines).encode()
        if len(body) > UPLOAD_BYTES:
            raise AssertionError(f"upload body of {len(body)} bytes")
        total_bytes += len(body)
        job = api.ok("POST", "/traces/upload?format=langfuse", content=body,
                     headers={"Content-Type": "application/x-ndjson"}, status=202)
        done = api.wait_job(job["job_id"], timeout_s=1800, poll_s=0.2)
        if done["status"] != "succeeded" or done["result"].get("imported") != len(cases):
            raise AssertionError(f"upload job ended {done['status']}: {done.get('result') or done.get('error')}")
    return time.perf_counter() - started, total_bytes / n / 1024


def one_import_job(api: Any, n: int, what: str, start_job: Callable[[], str]) -> float:
    """Run ``start_job`` (it returns a job id) and wait for that ONE job to import ``n`` traces; seconds
    from the start to the job's end. Closes ``api``."""
    try:
        started = time.perf_counter()
        done = api.wait_job(start_job(), timeout_s=7200, poll_s=0.5)
        seconds = time.perf_counter() - started
    finally:
        api.close()
    if done["status"] != "succeeded" or done["result"].get("imported") != n:
        raise AssertionError(f"{what} ended {done['status']}: {done.get('result') or done.get('error')}")
    return seconds


def connector_import(stack: BenchStack, n: int, seed: int) -> float:
    """Import ``n`` demo traces from a fake Langfuse through ONE connector import job (POST /v1/traces/import)
    into a fresh workspace; seconds from the POST to the job's end."""
    from infra.local.demo_traces import make_demo_traces
    from infra.local.fake_langfuse import FakeLangfuse

    api = stack.new_workspace(f"scale connector {n}")
    with FakeLangfuse(make_demo_traces(n=n, seed=seed)) as fake:
        integration = api.ok("POST", "/integrations", status=201, json={
            "platform": "langfuse", "name": "scale", "base_url": fake.base_url,
            "credentials": {"public_key": fake.public_key, "secret_key": fake.secret_key}})
        return one_import_job(api, n, "connector import", lambda: api.ok(
            "POST", "/traces/import", status=202, json={"integration_id": integration["id"], "filters": {}})["job_id"])


def file_upload(stack: BenchStack, n: int, seed: int) -> float:
    """Import ``n`` demo traces as ONE NDJSON file through the presigned upload (POST /v1/traces/uploads,
    PUT the file to its put_url, POST .../import: one job) into a fresh workspace; seconds from the
    ticket to the job's end."""
    import httpx
    from infra.local.demo_traces import make_demo_traces

    body = b"".join(json.dumps(t, separators=(",", ":")).encode() + b"\n" for t in make_demo_traces(n=n, seed=seed))
    api = stack.new_workspace(f"scale file {n}")

    def start_job() -> str:
        ticket = api.ok("POST", "/traces/uploads", status=201, json={"format": "langfuse", "filename": "scale.jsonl"})
        httpx.put(ticket["put_url"], content=body, headers=ticket["headers"], timeout=600).raise_for_status()
        return api.ok("POST", f"/traces/uploads/{ticket['upload_id']}/import", status=202)["job_id"]

    return one_import_job(api, n, "file upload import", start_job)


def make_version(api: Any, ratings: dict[str, str]) -> str:
    """Rate two good and two bad traces, generate offline, save EVAL_CODE as a version; its id."""
    page = api.ok("GET", "/traces?limit=200")["items"]
    chosen = {"positive": [], "negative": []}
    for row in page:
        rating = ratings.get(row["source"]["external_id"])
        if rating in chosen and len(chosen[rating]) < 2:
            chosen[rating].append(row["id"])
    eval_set = api.ok("POST", "/eval-sets", json={"name": "scale", "description": "", "criteria": ""}, status=201)
    for rating, ids in chosen.items():
        for trace_id in ids:
            api.ok("PUT", f"/eval-sets/{eval_set['id']}/feedback/{trace_id}", json={"rating": rating, "notes": ""})
    generated = api.wait_job(api.ok("POST", f"/eval-sets/{eval_set['id']}/generate", json={"generator": "offline"},
                                    status=202)["job_id"], timeout_s=600)
    if generated["status"] != "succeeded":
        raise AssertionError(f"generation failed: {generated.get('error')}")
    version = api.ok("POST", f"/evals/{generated['result']['eval_id']}/versions", json={"code": EVAL_CODE}, status=201)
    if version.get("scoring_job_id"):
        api.wait_job(version["scoring_job_id"], timeout_s=600)
    return version["id"]


@dataclass
class PhaseResult:
    """One measured phase: its size, wall time, usage and executions."""

    name: str
    traces: int
    seconds: float
    usage: Usage
    executions: list[ExecutionStats]

    def cost(self, memory_mb: dict[str, int]) -> dict[str, float]:
        return cost_usd(self.usage, self.executions, memory_mb)

    def max_events(self, machine: str) -> int:
        return max((e.events for e in self.executions if e.machine == machine), default=0)

    def max_payload(self, machine: str) -> int:
        return max((e.largest_payload for e in self.executions if e.machine == machine), default=0)


def measure_phase(recorder: Recorder, executions: Executions, name: str, traces: int,
                  body: Callable[[], float | None]) -> PhaseResult:
    """Run ``body`` (it returns its own timed seconds, or None to time it whole) counting into phase ``name``."""
    executions.mark()
    usage = recorder.start(name)
    started = time.perf_counter()
    try:
        timed = body()
    finally:
        seconds = time.perf_counter() - started
    stats = executions.new_stats()
    recorder.stop()
    return PhaseResult(name, traces, timed if timed is not None else seconds, usage, stats)


def seed_workspace(stack: BenchStack, recorder: Recorder, executions: Executions, n: int, seed: int,
                   results: list[PhaseResult]) -> Workspace:
    """A fresh workspace with ``n`` uploaded traces (measured as an import phase) and an eval version."""
    api = stack.new_workspace(f"scale {n}")
    ratings: dict[str, str] = {}
    kb: list[float] = []

    def upload() -> float:
        seconds, mean_kb = upload_traces(api, n, seed, ratings)
        kb.append(mean_kb)
        return seconds

    log(f"uploading {n:,} traces")
    phase = measure_phase(recorder, executions, f"import {n}", n, upload)
    results.append(phase)
    log(f"  {phase.seconds:.1f} s ({n / phase.seconds:.0f} traces/s)")
    version_id = make_version(api, ratings)
    return Workspace(api, n, version_id, phase.seconds, kb[0])


def execute_once(ws: Workspace) -> float:
    """POST /evals/{id}/execute over every trace of the workspace until the job ends; seconds."""
    started = time.perf_counter()
    job = ws.api.ok("POST", f"/evals/{ws.version_id}/execute", json={}, status=202)
    done = ws.api.wait_job(job["job_id"], timeout_s=7200, poll_s=0.5)
    seconds = time.perf_counter() - started
    if done["status"] != "succeeded":
        raise AssertionError(f"execute job ended {done['status']}: {done.get('error')}")
    result = done["result"]
    if result["executed"] != ws.traces or result["error"] or result["timeout"]:
        raise AssertionError(f"execute result wrong: {result}")
    return seconds


@dataclass
class Comparison:
    """Execute throughput two ways on one workspace, runs alternating: a baseline and an improvement."""

    traces: int
    title: str
    baseline_label: str
    improved_label: str
    baseline: list[float] = field(default_factory=list)  # seconds per run
    improved: list[float] = field(default_factory=list)
    judged: bool = False  # the improved way is how a user's local stack runs: THROUGHPUT_TARGET applies to it


def compare_page_chunks(ws: Workspace, repeats: int) -> Comparison:
    """Run execute over the workspace ``repeats`` times each way, baseline and improved alternating. The
    baseline orders a window of one chunk (tasks.WINDOW_CHUNKS = 1): each chunk is a run of the time
    listing, as every chunk was before, its ids read from every page they came from."""
    from chalicelib.evals import tasks

    default = tasks.WINDOW_CHUNKS
    out = Comparison(ws.traces, "chunks in time order and by import page",
                     "baseline: each chunk a run of the time listing (as before chunks were grouped by page)",
                     "chunks grouped by the import page of each id (execute_prepare's window)")
    try:
        for repeat in range(repeats):
            for window, runs in ((1, out.baseline), (default, out.improved)):
                tasks.WINDOW_CHUNKS = window
                seconds = execute_once(ws)
                runs.append(seconds)
                log(f"  compare {repeat + 1}/{repeats}, chunks {'in time order' if window == 1 else 'by page'}: "
                    f"{seconds:.1f} s ({ws.traces / seconds:.0f} traces/s)")
    finally:
        tasks.WINDOW_CHUNKS = default
    return out


def compare_processes(stack: BenchStack, ws: Workspace, repeats: int) -> Comparison:
    """Run execute over the workspace ``repeats`` times each way, alternating: execute_chunk in the stack's
    process (the baseline: as the tests and this bench's measured phases run it) and in worker processes
    of its own, as ``make dev`` runs it (infra/local/source_functions.py). One run first starts the
    workers (not counted): a dev stack's are warm after its first run."""
    from infra.local.source_functions import DEV_PROCESS_FUNCTIONS

    out = Comparison(ws.traces, "execute_chunk in the stack's process and in worker processes (make dev)",
                     "baseline: execute_chunk in the local stack's process, beside moto (tests, measured phases)",
                     f"{', '.join(DEV_PROCESS_FUNCTIONS)} in worker processes of its own, as `make dev` runs it",
                     judged=True)
    with stack.local.in_processes(DEV_PROCESS_FUNCTIONS) as pool:
        seconds = execute_once(ws)
        log(f"  workers started: {seconds:.1f} s ({ws.traces / seconds:.0f} traces/s, not counted)")
        for repeat in range(repeats):
            for enabled, runs in ((False, out.baseline), (True, out.improved)):
                pool.enabled = enabled
                seconds = execute_once(ws)
                runs.append(seconds)
                log(f"  compare {repeat + 1}/{repeats}, execute_chunk {'in workers' if enabled else 'in process'}: "
                    f"{seconds:.1f} s ({ws.traces / seconds:.0f} traces/s)")
    return out


def run(sizes: list[int], repeats: int, compare_repeats: int = 0, *, bulk_imports: bool = True,
        ) -> tuple[list[PhaseResult], list[Comparison]]:
    """Import and execute at each size (smallest first), every phase measured; then, when asked, execute
    throughput compared on the largest workspace: chunks in time order (the baseline) and by import page;
    execute_chunk in the stack's process (the baseline) and in worker processes."""
    recorder = Recorder()
    results: list[PhaseResult] = []
    comparisons: list[Comparison] = []
    with local_stack(recorder.wrap_handlers) as stack:
        recorder.install()
        workspaces = []
        try:
            executions = Executions(stack.endpoint_url)
            for index, n in enumerate(sorted(sizes)):
                ws = seed_workspace(stack, recorder, executions, n, seed=index + 1, results=results)
                workspaces.append(ws)
                for repeat in range(repeats):
                    log(f"execute over {n:,} traces ({repeat + 1}/{repeats})")
                    phase = measure_phase(recorder, executions, f"execute {n} #{repeat + 1}", n,
                                          lambda: execute_once(ws))
                    log(f"  {phase.seconds:.1f} s ({n / phase.seconds:.0f} traces/s)")
                    results.append(phase)
            for index, n in enumerate(sorted(sizes) if bulk_imports else []):  # import: one file of n traces, one job
                log(f"file upload of {n:,} traces (one job)")
                phase = measure_phase(recorder, executions, f"file upload {n}", n,
                                      lambda n=n, index=index: file_upload(stack, n, seed=200 + index))
                log(f"  {phase.seconds:.1f} s ({n / phase.seconds:.0f} traces/s)")
                results.append(phase)
            for index, n in enumerate(sorted(sizes) if bulk_imports else []):  # import: one connector job
                log(f"connector import of {n:,} traces (one job)")
                phase = measure_phase(recorder, executions, f"connector import {n}", n,
                                      lambda n=n, index=index: connector_import(stack, n, seed=100 + index))
                log(f"  {phase.seconds:.1f} s ({n / phase.seconds:.0f} traces/s)")
                results.append(phase)
            if compare_repeats:
                log(f"execute throughput, chunks in time order and by import page, {workspaces[-1].traces:,} traces")
                comparisons.append(compare_page_chunks(workspaces[-1], compare_repeats))
                log(f"execute throughput, execute_chunk in process and in workers, {workspaces[-1].traces:,} traces")
                comparisons.append(compare_processes(stack, workspaces[-1], compare_repeats))
        finally:
            for ws in workspaces:
                ws.api.close()
            recorder.uninstall()
    return results, comparisons


# --- the report ----------------------------------------------------------------------------------

@dataclass
class Extrapolation:
    """One kind of phase (import or execute) extrapolated to TARGET_TRACES."""

    kind: str
    machine: str
    points: list[PhaseResult]
    memory_mb: dict[str, int]

    def line(self, value: Callable[[PhaseResult], float], *, through_origin: bool = False) -> Line:
        return fit([(p.traces, value(p)) for p in self.points], through_origin=through_origin)

    def calls_per_trace(self) -> float:
        return self.line(lambda p: p.usage.total_calls()).slope

    def calls_at_target(self) -> float:
        return self.line(lambda p: p.usage.total_calls()).at(TARGET_TRACES)

    def cost_lines(self) -> dict[str, Line]:
        items = self.points[0].cost(self.memory_mb).keys()
        return {item: self.line(lambda p, item=item: p.cost(self.memory_mb)[item]) for item in items}

    def cost_at_target(self) -> dict[str, float]:
        """Dollars per TARGET_TRACES: the per-trace slope × TARGET_TRACES plus the fixed part."""
        return {item: line.at(TARGET_TRACES) for item, line in self.cost_lines().items()}


def limits_rows(ex: Extrapolation, per_execution: bool) -> list[list[str]]:
    """Limit checks at TARGET_TRACES: history events and payload per execution, Lambda payload, item size."""
    rows = []

    def row(name: str, value: Callable[[PhaseResult], float], limit: float, unit: str = "") -> None:
        line = ex.line(value) if per_execution else Line(max(value(p) for p in ex.points), 0.0)
        measured = ", ".join(f"{value(p):,.0f} @ {p.traces:,}" for p in ex.points)
        at = line.at(TARGET_TRACES)
        rows.append([name, measured, f"{at:,.0f}{unit}", f"{limit:,.0f}{unit}", "pass" if at < limit else "FAIL"])

    row(f"history events per {ex.machine} execution (max)", lambda p: p.max_events(ex.machine), HISTORY_EVENTS_LIMIT)
    row(f"largest state payload in a {ex.machine} execution (bytes)", lambda p: p.max_payload(ex.machine),
        STATE_PAYLOAD_LIMIT)
    rows.append(["largest Lambda invoke payload (bytes, chunk-bounded)",
                 ", ".join(f"{p.usage.largest_lambda_payload:,} @ {p.traces:,}" for p in ex.points),
                 f"{max(p.usage.largest_lambda_payload for p in ex.points):,}", f"{LAMBDA_PAYLOAD_LIMIT:,}",
                 "pass" if max(p.usage.largest_lambda_payload for p in ex.points) < LAMBDA_PAYLOAD_LIMIT else "FAIL"])
    rows.append(["largest DynamoDB item written (bytes)",
                 ", ".join(f"{p.usage.largest_item:,} @ {p.traces:,}" for p in ex.points),
                 f"{max(p.usage.largest_item for p in ex.points):,}", f"{ITEM_SIZE_LIMIT:,}",
                 "pass" if max(p.usage.largest_item for p in ex.points) < ITEM_SIZE_LIMIT else "FAIL"])
    return rows


def build_report(results: list[PhaseResult], default_traces: int) -> Report:
    memory = function_memory_mb()
    report = Report("scale", "Scale and cost at 1,000,000 traces (issue #13 item 5)")
    imports = [p for p in results if p.name.startswith("import")]
    files = [p for p in results if p.name.startswith("file upload")]
    connector = [p for p in results if p.name.startswith("connector import")]
    executes = [p for p in results if p.name.startswith("execute")]
    by_size: dict[int, list[PhaseResult]] = {}
    for p in executes:
        by_size.setdefault(p.traces, []).append(p)
    execute_points = [runs[0] for _, runs in sorted(by_size.items())]

    rows = []
    for p in results:
        rows.append([p.name, f"{p.traces:,}", fmt(p.seconds), fmt(p.traces / p.seconds),
                     f"{p.usage.total_calls():,}", fmt(p.usage.total_calls() / p.traces),
                     f"{p.usage.total_calls(include_api=True) - p.usage.total_calls():,}",
                     f"{sum(e.events for e in p.executions):,}", len(p.executions)])
    report.table(["phase", "traces", "seconds", "traces/s", "AWS calls (functions)", "calls per trace",
                  "API calls (job start + polling)", "history events (all executions)", "executions"], rows,
                 caption="Measured phases (local stack: moto + the real state machines + the app's handlers in "
                         "one process). Import = NDJSON upload bodies of ≤ 5 MB through POST /v1/traces/upload, "
                         "one import job each; file upload = one NDJSON file of N traces PUT to a presigned URL "
                         "(POST /v1/traces/uploads) and imported as one job; connector import = one POST /v1/traces/import job over a fake Langfuse "
                         "serving N traces; execute = POST /v1/evals/{id}/execute over every trace.")

    if by_size:
        largest = by_size[max(by_size)]
        tps = largest[0].traces / median([p.seconds for p in largest])
        report.note(f"Local execute throughput at {largest[0].traces:,} traces, every handler in the stack's process "
                    f"(as the tests run them; these phases count every call there): {fmt(tps)} traces/s against a "
                    f"target of {THROUGHPUT_TARGET}: {'pass' if tps >= THROUGHPUT_TARGET else 'FAIL'} (wall-clock on "
                    "this machine under the load shown above; compare the before/after ratio, measured in the same "
                    "run; `make dev` runs execute_chunk in worker processes: its figure is under the comparison).")
    if len(by_size.get(max(by_size), [])) > 1:
        largest = by_size[max(by_size)]
        walls = [p.seconds for p in largest]
        report.table(["figure", "median", "runs"], [
            [f"execute over {largest[0].traces:,} traces: traces/s", fmt(largest[0].traces / median(walls)),
             ", ".join(fmt(largest[0].traces / w) for w in walls)]], caption="Local execute throughput:")

    for kind, points, machine in (("execute", execute_points, "execute_eval"), ("import", imports, "import_traces"),
                                  ("file upload", files, "import_traces"), ("connector import", connector, "import_traces")):
        if not points:
            continue
        ex = Extrapolation(kind, machine, points, memory)
        biggest = points[-1]
        calls = biggest.usage.calls_by()
        call_rows = [[service, op, f"{n:,}", fmt(n / biggest.traces, 3),
                      fmt(fit([(p.traces, p.usage.calls_by()[(service, op)]) for p in points]).at(TARGET_TRACES))]
                     for (service, op), n in calls.most_common()]
        report.table(["service", "operation", f"calls ({biggest.traces:,} traces)", "per trace",
                      f"extrapolated to {TARGET_TRACES:,}"], call_rows,
                     caption=f"{kind}: AWS calls by the product's functions, by service and operation "
                             f"(the API's own calls left out):")
        fn_rows = []
        for fn in sorted(biggest.usage.lambda_invocations, key=lambda f: -biggest.usage.lambda_seconds[f]):
            inv = biggest.usage.lambda_invocations[fn]
            secs = biggest.usage.lambda_seconds[fn]
            fn_calls = sum(n for (f, _, _), n in biggest.usage.calls.items() if f == fn)
            fn_rows.append([fn, memory.get(fn, "?"), f"{inv:,}", fmt(secs), fmt(secs / inv * 1e3),
                            fmt(memory.get(fn, 128) / 1024 * secs), f"{fn_calls:,}",
                            fmt(biggest.usage.ddb_read_units[fn]), f"{biggest.usage.ddb_write_units[fn]:,}"])
        report.table(["function", "memory MB", "invocations", "seconds (local)", "ms per invocation", "GB-s",
                      "AWS calls", "DynamoDB RRU", "DynamoDB WRU"], fn_rows,
                     caption=f"{kind} at {biggest.traces:,} traces, by Lambda function:")
        sfn_rows = [[e.machine, e.events, e.transitions, e.map_iterations, e.child_executions, e.child_transitions,
                     f"{e.largest_payload:,}"] for e in biggest.executions]
        if len(sfn_rows) > 8:
            sfn_rows = sfn_rows[:8] + [[f"... {len(sfn_rows) - 8} more", "", "", "", "", "", ""]]
        report.table(["state machine", "history events", "state transitions", "inline map iterations",
                      "distributed map child executions", "child transitions", "largest payload (bytes)"], sfn_rows,
                     caption=f"{kind} at {biggest.traces:,} traces: Step Functions executions:")
        report.table(["limit (at 1,000,000 traces)", "measured", "extrapolated", "limit", "verdict"],
                     limits_rows(ex, per_execution=(kind != "import")),
                     caption=f"{kind}: service limits at {TARGET_TRACES:,} traces in one job"
                             + (" (fitted a + b·traces through the measured sizes)" if kind != "import" else
                                " (each upload body is its own execution: per-execution figures do not grow "
                                "with the total, so the largest measured is shown)") + ":")
        target_cost = ex.cost_at_target()
        total = sum(target_cost.values())
        target = TARGET_PER_MILLION_EVALUATIONS if kind == "execute" else TARGET_PER_MILLION_IMPORTED
        cost_rows = [[item, fmt(biggest.cost(memory)[item], 3), fmt(value, 3)] for item, value in target_cost.items()]
        cost_rows.append(["**total**", fmt(sum(biggest.cost(memory).values()), 3), f"**{fmt(total, 3)}**"])
        report.table(["line item", f"measured, {biggest.traces:,} traces (USD)", f"per {TARGET_TRACES:,} (USD)"],
                     cost_rows, caption=f"{kind}: cost at public on-demand prices (us-east-1, {PRICES_AS_OF}):")
        report.note(f"{kind}: ${fmt(total, 3)} per {TARGET_TRACES:,} "
                    f"{'trace-evaluations' if kind == 'execute' else 'imported traces'} against a target of "
                    f"${target:.2f}: {'pass' if total <= target else 'FAIL'}; "
                    f"{fmt(ex.calls_per_trace(), 3)} AWS calls per trace "
                    f"({fmt(ex.calls_at_target())} at {TARGET_TRACES:,}); "
                    f"{fmt(ex.line(lambda p: sum(p.usage.ddb_write_units.values())).slope, 3)} DynamoDB write units "
                    "per trace.")
    report.note("Lambda duration is the handlers' wall-clock time on the local stack (moto, the API and every "
                "handler share one Python process on a shared 2-core machine; see the load above): a proxy for the "
                "billed duration, priced at each function's declared memory. On AWS a 512 MB function has about "
                "0.3 vCPU (CPU-bound work runs longer) while DynamoDB/S3 calls take ~5-10 ms instead of moto's "
                "1-3 ms; execute_chunk is billed while it waits for the sandbox, as measured here.")
    report.note("Not in the per-trace cost: storage (DynamoDB $0.25/GB-month: a result item is ~0.4 KB, so "
                "~$0.10 per month per 1,000,000 results; S3 $0.023/GB-month), CloudWatch Logs ingestion ($0.50/GB) "
                "and X-Ray, API Gateway and the API function (per request, not per trace: starting a job and "
                "polling it), and requests Step Functions makes itself (a Distributed Map's ItemReader and "
                "ResultWriter: a few S3 requests per map run).")
    report.note("Step Functions transitions are the states entered in each execution's history plus task retries; "
                "a Distributed Map's child executions are counted from DescribeMapRun and each is charged one "
                "transition per state of its ItemProcessor (STANDARD children) or as an express request + "
                "duration (EXPRESS children). DynamoDB units are computed from item sizes (writes: the item and "
                "each GSI holding it at its projection; UpdateItem: the item after the update).")
    report.table(["price", "USD"], [
        ["Lambda per GB-s (x86)", f"{LAMBDA_PER_GB_SECOND}"], ["Lambda per request", f"{LAMBDA_PER_REQUEST:.2e}"],
        ["Step Functions standard per state transition", f"{SFN_STANDARD_PER_TRANSITION}"],
        ["Step Functions express per request", f"{SFN_EXPRESS_PER_REQUEST:.2e}"],
        ["Step Functions express per GB-s (64 MB steps)", f"{SFN_EXPRESS_PER_GB_SECOND}"],
        ["DynamoDB on-demand per write request unit", f"{DDB_PER_WRITE_UNIT:.3e}"],
        ["DynamoDB on-demand per read request unit", f"{DDB_PER_READ_UNIT:.3e}"],
        ["S3 PUT/COPY/POST/LIST per request", f"{S3_PER_PUT:.1e}"], ["S3 GET and others per request", f"{S3_PER_GET:.1e}"],
        ["KMS per request", f"{KMS_PER_REQUEST:.1e}"],
    ], caption=f"Prices used (public on-demand, us-east-1, {PRICES_AS_OF}; bench/scale.py names each):")
    return report


def add_comparison(report: Report, c: Comparison) -> None:
    """The before/after throughput table: medians of alternating runs, ratio per pair."""
    ratios = [b / i for b, i in zip(c.baseline, c.improved)]
    report.table(["execute over " + f"{c.traces:,} traces", "traces/s (median)", "runs (traces/s)"], [
        [c.baseline_label, fmt(c.traces / median(c.baseline)), ", ".join(fmt(c.traces / s) for s in c.baseline)],
        [c.improved_label, fmt(c.traces / median(c.improved)), ", ".join(fmt(c.traces / s) for s in c.improved)],
        ["speed-up (baseline seconds / improved seconds, per pair)", f"{fmt(median(ratios))}x",
         ", ".join(f"{fmt(r)}x" for r in ratios)],
    ], caption=f"Local execute throughput, {c.title}, measured in this run (runs alternate; the same workspace, "
               "eval and traces):")
    if c.judged:
        tps = c.traces / median(c.improved)
        report.note(f"Local execute throughput as `make dev` runs it, at {c.traces:,} traces: {fmt(tps)} traces/s "
                    f"(median of {len(c.improved)} runs) against a target of {THROUGHPUT_TARGET}: "
                    f"{'pass' if tps >= THROUGHPUT_TARGET else 'FAIL'}; slowest run {fmt(c.traces / max(c.improved))}.")


def summary(results: list[PhaseResult]) -> dict:
    """The measured figures as plain data (``--json``): per phase its calls, Lambda invocations,
    executions, cost; per kind the extrapolation to TARGET_TRACES."""
    memory = function_memory_mb()
    phases = []
    for p in results:
        phases.append({
            "name": p.name, "traces": p.traces, "seconds": p.seconds,
            "calls": {f"{service}:{op}": n for (service, op), n in p.usage.calls_by().items()},
            "api_calls": p.usage.total_calls(include_api=True) - p.usage.total_calls(),
            "lambda_invocations": dict(p.usage.lambda_invocations),
            "ddb_read_units": sum(p.usage.ddb_read_units.values()),
            "ddb_write_units": sum(p.usage.ddb_write_units.values()),
            "executions": [e.__dict__ for e in p.executions], "cost": p.cost(memory)})
    kinds = {}
    for kind, machine in (("execute", "execute_eval"), ("import", "import_traces"), ("file upload", "import_traces"),
                          ("connector import", "import_traces")):
        points = [p for p in results if p.name.startswith(kind) and p.name.endswith(("#1", str(p.traces)))]
        if points:
            ex = Extrapolation(kind, machine, points, memory)
            events = ex.line(lambda p: p.max_events(machine))
            kinds[kind] = {"sizes": [p.traces for p in points], "calls_per_trace": ex.calls_per_trace(),
                           "calls_at_target": ex.calls_at_target(),
                           "events_line": [events.intercept, events.slope], "events_at_target": events.at(TARGET_TRACES),
                           "cost_at_target": ex.cost_at_target()}
    return {"target_traces": TARGET_TRACES, "phases": phases, "kinds": kinds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=DEFAULT_TRACES, help="the larger size; N/4 is measured too")
    parser.add_argument("--repeats", type=int, default=EXECUTE_REPEATS, help="execute runs at the larger size")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_TRACES} traces, print only")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    parser.add_argument("--compare-repeats", type=int, default=COMPARE_REPEATS,
                        help="execute runs each way, in each comparison (by page, in worker processes; 0: skip)")
    parser.add_argument("--uploads-and-execute-only", action="store_true",
                        help="skip the file-upload and connector imports (for the 100,000-trace run)")
    parser.add_argument("--name", default="scale", help="results file: bench/results/<name>.md")
    args = parser.parse_args(argv)
    n = SMOKE_TRACES if args.smoke else args.traces
    if args.smoke:
        os.environ.setdefault("IOFOLD_EXECUTE_CHUNK_SIZE", str(SMOKE_CHUNK_SIZE))
    sizes = sorted({max(1, n // 4), n})
    started = time.perf_counter()
    results, comparisons = run(sizes, args.repeats, min(args.compare_repeats, 1) if args.smoke else args.compare_repeats,
                               bulk_imports=not args.uploads_and_execute_only)
    report = build_report(results, n)
    report.name = args.name
    for comparison in comparisons:
        add_comparison(report, comparison)
    report.note(f"Whole bench run: {time.perf_counter() - started:.0f} s for sizes {', '.join(f'{s:,}' for s in sizes)}.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(summary(results), handle, indent=1, default=str)
    if args.smoke:
        print(report.render())
    else:
        report.write()


if __name__ == "__main__":
    main()
