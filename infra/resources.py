"""What iofold needs from AWS, declared once: the local stack creates it in moto, the
CloudFormation template (infra/template.py) declares the same for AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.sandbox import limits

STATEMACHINE_DIR = Path(__file__).parent / "statemachines"


@dataclass(frozen=True)
class Index:
    """A GSI. It copies only what its queries read: the keys (KEYS_ONLY) plus ``include`` (INCLUDE);
    ``include=None`` projects ALL. Every copied attribute is paid for on every write of the item."""

    name: str
    hash_key: str
    range_key: str | None = None
    include: tuple[str, ...] | None = ()

    def projection(self) -> dict:
        if self.include is None:
            return {"ProjectionType": "ALL"}
        if not self.include:
            return {"ProjectionType": "KEYS_ONLY"}
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(self.include)}


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    attribute_types: dict[str, str] = field(default_factory=dict)
    ttl_attribute: str | None = None  # epoch seconds after which DynamoDB deletes the item

    def key_schema(self) -> list[dict]:
        return _key_schema(self.hash_key, self.range_key)

    def attribute_definitions(self) -> list[dict]:
        names = {self.hash_key, self.range_key, *(a for i in self.indexes for a in (i.hash_key, i.range_key))}
        return [
            {"AttributeName": n, "AttributeType": self.attribute_types.get(n, "S")} for n in sorted(x for x in names if x)
        ]

    def global_secondary_indexes(self) -> list[dict]:
        return [
            {"IndexName": i.name, "KeySchema": _key_schema(i.hash_key, i.range_key), "Projection": i.projection()}
            for i in self.indexes
        ]


def _key_schema(hash_key: str, range_key: str | None) -> list[dict]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


_KEY_FIELDS = ("label", "role", "created_at", "last_used_at")  # an ApiKey as listed (auth/repository.py _to_key)
_FEEDBACK_FIELDS = ("rating", "notes", "author", "created_at", "updated_at", "history", "changes", "version")
_JOB_FIELDS = ("type", "status", "progress", "result", "error", "created_at", "started_at", "finished_at", "params",
               "counters")  # a Job as listed (jobs/models.py): not its failures, execution arn or event count

# Each index projects what its queries read (tests/local/test_index_projections.py):
# traces.by_time lists summaries (never the trace body); evals.by_id finds a version's set and
# workspace, then GetItem reads the version; eval_sets.by_id is kept for lookups by id (keys only).
TABLES: tuple[Table, ...] = (
    Table("workspaces", "workspace_id"),
    Table("api_keys", "key_hash", indexes=(Index("by_workspace", "workspace_id", "key_id", include=_KEY_FIELDS),
                                           Index("by_key_id", "key_id", include=("workspace_id", *_KEY_FIELDS)))),
    Table("integrations", "workspace_id", "integration_id"),
    # by_time: only items written before the packed time index carry sort_key (chalicelib/traces/timeindex.py)
    Table("traces", "workspace_id", "trace_id", indexes=(Index("by_time", "workspace_id", "sort_key",
                                                               include=("summary",)),)),
    Table("trace_times", "workspace_id", "slot"),  # the packed time index: a few items per import page
    Table("eval_sets", "workspace_id", "eval_set_id", indexes=(Index("by_id", "eval_set_id"),)),
    Table("feedback", "eval_set_id", "trace_id", indexes=(Index("by_time", "eval_set_id", "rated_at_key",
                                                                include=_FEEDBACK_FIELDS),)),
    Table("evals", "eval_set_id", "eval_id", indexes=(Index("by_id", "eval_id", include=("workspace_id",)),)),
    Table("executions", "eval_id", "trace_id"),
    # run counts per hour and day (chalicelib/evals/trends.py); only its run markers carry expires_at
    Table("eval_trends", "eval_id", "period", ttl_attribute="expires_at"),
    Table("jobs", "workspace_id", "job_id", indexes=(Index("by_time", "workspace_id", "created_key",
                                                           include=_JOB_FIELDS),), ttl_attribute="expires_at"),
    Table("job_events", "job_id", "seq", attribute_types={"seq": "N"}, ttl_attribute="expires_at"),
)

# --- retention ---------------------------------------------------------------------------
# Job records, their events and their working files expire after the job retention (the template's
# JobRetentionDays parameter → IOFOLD_JOB_RETENTION_DAYS of every function that writes jobs; the
# repositories stamp ``expires_at``). Upload staging objects are temporary: a file is prepared into
# jobs/ by the import that reads it, so uploads/ keeps them only a few days.
JOB_RETENTION_PARAMETER = "JobRetentionDays"
UPLOAD_RETENTION_DAYS = 7


@dataclass(frozen=True)
class Expiry:
    """Objects under ``prefix`` of the data bucket expire after ``days`` (None: the job retention)."""

    prefix: str
    days: int | None


EXPIRING_PREFIXES: tuple[Expiry, ...] = (Expiry("jobs/", None), Expiry("uploads/", UPLOAD_RETENTION_DAYS))


@dataclass(frozen=True)
class StateMachine:
    name: str
    functions: tuple[str, ...]
    timeout_seconds: int

    @property
    def path(self) -> Path:
        return STATEMACHINE_DIR / f"{self.name}.asl.json"


# Task functions (the names of @app.lambda_function handlers) each state machine calls.
STATE_MACHINES: tuple[StateMachine, ...] = (
    StateMachine("import_traces", ("import_page", "upload_prepare", "job_fail"), timeout_seconds=3600),
    StateMachine("generate_eval", ("generate_load", "generate_candidates", "generate_test", "generate_save",
                                   "job_finish", "job_fail"), timeout_seconds=1800),
    StateMachine("execute_eval", ("execute_prepare", "execute_chunk", "execute_aggregate", "job_finish", "job_fail"),
                 timeout_seconds=3600),
)


def definition_substitutions(function_arn) -> dict[str, str]:
    """``${Fn_<name>}`` placeholders in ASL files → Lambda ARNs, via ``function_arn(name)``."""
    names = sorted({f for sm in STATE_MACHINES for f in sm.functions})
    return {f"Fn_{n}": function_arn(n) for n in names}


def render_definition(sm: StateMachine, substitutions: dict[str, str], timeout_seconds: int | None = None) -> str:
    """The ASL text with placeholders substituted (as CloudFormation DefinitionSubstitutions would) and
    the time limit set. (A run's concurrency comes from its input: execute_prepare's settings.)"""
    import json

    text = sm.path.read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    doc = json.loads(text)
    doc["TimeoutSeconds"] = timeout_seconds or sm.timeout_seconds
    return json.dumps(doc)

# Functions not called by a state machine directly (the sandbox is invoked by a task).
EXTRA_FUNCTIONS: tuple[str, ...] = ("sandbox", "scheduled_import", "otlp_assemble", "evalset_cleanup")

# Functions a fixed-rate schedule invokes (an EventBridge rule on AWS, infra/local/scheduler.py locally).
PERIODIC_FUNCTIONS: dict[str, str] = {"otlp_assemble": "rate(1 minute)", "evalset_cleanup": "rate(1 minute)"}


# --- what each function touches ---------------------------------------------------------
# One declaration drives both sides: the template gives each function exactly these
# environment variables (Ref/GetAtt) and a role with exactly these permissions; the local
# stack sets the same variables and lets a function's handler read only its own.

API_FUNCTION = "api_handler"  # Chalice's REST API handler (logical id APIHandler)
READ, READ_WRITE = "r", "rw"


@dataclass(frozen=True)
class Function:
    """One deployed function and the resources its code reaches."""

    name: str
    tables: tuple[str, ...] = ()
    bucket: dict[str, str] = field(default_factory=dict)  # key prefix → READ or READ_WRITE
    kms: tuple[str, ...] = ()  # actions on the credentials key
    state_machines: tuple[str, ...] = ()  # started (and, for the API, described and stopped)
    invokes_sandbox: bool = False
    manages_schedules: bool = False
    reads_llm_secret: bool = False
    timeout_s: int = 300  # Lambda's limit; API Gateway waits 29 s for the API
    memory_mb: int = 512
    settings: tuple[str, ...] = ()  # settings (chalicelib/config.py names) the template sets from its parameters

    def env_vars(self) -> tuple[str, ...]:
        """The resource variables the template sets for this function (chalicelib/config.py names them)."""
        from chalicelib import config

        names = [config.table_var(t) for t in self.tables]
        if self.bucket:
            names.append(config.BUCKET_VAR)
        if self.kms:
            names.append(config.KMS_KEY_VAR)
        names += [config.state_machine_var(sm) for sm in self.state_machines]
        if self.invokes_sandbox:
            names.append(config.SANDBOX_FUNCTION_VAR)
        if self.manages_schedules:
            names += config.SCHEDULE_VARS
        if self.reads_llm_secret:
            names.append(config.LLM_SECRET_ARN_VAR)
        return tuple(dict.fromkeys(names))

    def setting_vars(self) -> tuple[str, ...]:
        """Settings (not resources) the template sets for this function from its parameters."""
        from chalicelib import config

        retention = (config.JOB_RETENTION_DAYS_VAR,) if "jobs" in self.tables else ()
        return retention + tuple(config.env_var(name) for name in self.settings)


_JOBS = ("jobs", "job_events")
_TRACES = ("traces", "trace_times")  # a TraceRepository reads and writes both (chalicelib/wiring.py)
_EVALS = ("evals", "executions", "eval_sets", "eval_trends")  # the eval repository reads its set too
_RATINGS = ("eval_sets", "feedback")
_JOB_FILES = {"jobs/": READ_WRITE}
_SPANS = {"spans/": READ_WRITE, "otlp_pending/": READ_WRITE}  # received OTLP spans (chalicelib/otlp/spans.py)
_DELETED_SETS = {"deleted_sets/": READ_WRITE}  # deleted eval sets still being emptied (chalicelib/evalsets/cleanup.py)

FUNCTIONS: tuple[Function, ...] = (
    Function(API_FUNCTION, tables=tuple(t.name for t in TABLES),
             # uploads/: presigned PUTs and direct uploads; jobs/: the upload store also names prepared files;
             # spans/, otlp_pending/: the OTLP receiver stores spans as they come
             # jobs/: also the trace ids of a large execute request (evals/service.py start_execution)
             bucket={"traces/": READ_WRITE, "uploads/": READ_WRITE, "jobs/": READ_WRITE, **_SPANS, **_DELETED_SETS},
             kms=("kms:GenerateDataKey", "kms:Decrypt"),
             state_machines=("import_traces", "generate_eval", "execute_eval"), manages_schedules=True,
             timeout_s=30),
    # an upload's first step: decompress and (OTLP) group the file once, into jobs/ for the pages to read
    Function("upload_prepare", tables=_JOBS, bucket={"uploads/": READ, "jobs/": READ_WRITE},
             timeout_s=900, memory_mb=3008),
    # jobs/: reads prepared upload files, writes the failures of its page (chalicelib/jobs/failures.py);
    # its last call finishes the job as job_finish does (so it may also start runs of active evals)
    Function("import_page", tables=(*_TRACES, "integrations", *_JOBS, *_RATINGS, *_EVALS),
             bucket={"traces/": READ_WRITE, "uploads/": READ, "jobs/": READ_WRITE}, kms=("kms:Decrypt",),
             state_machines=("execute_eval",)),
    # run-active-evals after an import checks the new traces exist before it starts an execution
    Function("job_finish", tables=(*_JOBS, "integrations", *_TRACES, *_RATINGS, *_EVALS), bucket={"traces/": READ},
             state_machines=("execute_eval",)),
    Function("job_fail", tables=(*_JOBS, "integrations")),
    # the set's scope decides which rated traces train
    Function("generate_load", tables=(*_JOBS, *_RATINGS, *_TRACES), bucket={**_JOB_FILES, "traces/": READ}),
    # workspaces + kms: the workspace's own LLM endpoint and its sealed key; LLM calls per candidate and fold
    Function("generate_candidates", tables=(*_JOBS, *_TRACES, "workspaces"), bucket={**_JOB_FILES, "traces/": READ},
             kms=("kms:Decrypt",), reads_llm_secret=True, timeout_s=limits.CALLER_TIMEOUT_S, memory_mb=1024,
             invokes_sandbox=True),  # the hybrid generator measures the model's predicates in the sandbox
    Function("generate_test", tables=(*_JOBS, *_TRACES), bucket={**_JOB_FILES, "traces/": READ},
             invokes_sandbox=True, timeout_s=limits.CALLER_TIMEOUT_S),
    Function("generate_save", tables=(*_JOBS, *_TRACES, *_RATINGS, *_EVALS), bucket={**_JOB_FILES, "traces/": READ},
             invokes_sandbox=True, timeout_s=limits.CALLER_TIMEOUT_S),
    # it hands the run's MaxConcurrency (the ExecuteMaxConcurrency parameter) to the Distributed Map
    Function("execute_prepare", tables=(*_JOBS, *_TRACES, *_EVALS), bucket={**_JOB_FILES, "traces/": READ},
             settings=("execute_max_concurrency",)),
    Function("execute_chunk", tables=(*_JOBS, *_TRACES, *_EVALS), bucket={**_JOB_FILES, "traces/": READ},
             invokes_sandbox=True, timeout_s=limits.CALLER_TIMEOUT_S),  # outlives the sandbox it waits for
    Function("execute_aggregate", tables=(*_JOBS, *_RATINGS, *_EVALS), bucket=_JOB_FILES),
    Function("scheduled_import", tables=("integrations", *_JOBS), state_machines=("import_traces",)),
    # with IOFOLD_OTLP_RUN_ACTIVE_EVALS it starts runs of the active evals (handlers.run_active_evals)
    Function("otlp_assemble", tables=(*_TRACES, *_JOBS, *_RATINGS, *_EVALS), bucket={"traces/": READ_WRITE, **_SPANS},
             state_machines=("execute_eval",)),
    # DELETE /v1/eval-sets/{id} leaves a set's ratings, results and trend counters to it, in bounded batches
    Function("evalset_cleanup", tables=(*_RATINGS, *_EVALS), bucket=_DELETED_SETS),
    # untrusted code: no resources at all; one full vCPU (1,769 MB), so the per-trace wall-clock limit
    # is as much CPU time; timeouts: chalicelib/sandbox/limits.py (tests/unit/sandbox/test_limits.py)
    Function("sandbox", timeout_s=limits.SANDBOX_TIMEOUT_S, memory_mb=1769),
)


def function(name: str) -> Function:
    """The declaration of one function (KeyError for an undeclared one)."""
    return {f.name: f for f in FUNCTIONS}[name]
