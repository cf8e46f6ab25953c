"""What iofold needs from AWS, declared once: the local stack creates it in moto, the
CloudFormation template (infra/template.py) declares the same for AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STATEMACHINE_DIR = Path(__file__).parent / "statemachines"


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    attribute_types: dict[str, str] = field(default_factory=dict)

    def key_schema(self) -> list[dict]:
        return _key_schema(self.hash_key, self.range_key)

    def attribute_definitions(self) -> list[dict]:
        names = {self.hash_key, self.range_key, *(a for i in self.indexes for a in (i.hash_key, i.range_key))}
        return [
            {"AttributeName": n, "AttributeType": self.attribute_types.get(n, "S")} for n in sorted(x for x in names if x)
        ]

    def global_secondary_indexes(self) -> list[dict]:
        return [
            {"IndexName": i.name, "KeySchema": _key_schema(i.hash_key, i.range_key), "Projection": {"ProjectionType": "ALL"}}
            for i in self.indexes
        ]


def _key_schema(hash_key: str, range_key: str | None) -> list[dict]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


TABLES: tuple[Table, ...] = (
    Table("workspaces", "workspace_id"),
    Table("api_keys", "key_hash", indexes=(Index("by_workspace", "workspace_id", "key_id"), Index("by_key_id", "key_id"))),
    Table("integrations", "workspace_id", "integration_id"),
    Table("traces", "workspace_id", "trace_id", indexes=(Index("by_time", "workspace_id", "sort_key"),)),
    Table("eval_sets", "workspace_id", "eval_set_id", indexes=(Index("by_id", "eval_set_id"),)),
    Table("feedback", "eval_set_id", "trace_id", indexes=(Index("by_time", "eval_set_id", "rated_at_key"),)),
    Table("evals", "eval_set_id", "eval_id", indexes=(Index("by_id", "eval_id"),)),
    Table("executions", "eval_id", "trace_id"),
    Table("jobs", "workspace_id", "job_id", indexes=(Index("by_time", "workspace_id", "created_key"),)),
    Table("job_events", "job_id", "seq", attribute_types={"seq": "N"}),
)


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
    StateMachine("import_traces", ("upload_prepare", "import_page", "job_finish", "job_fail"), timeout_seconds=3600),
    StateMachine("generate_eval", ("generate_load", "generate_candidates", "generate_test", "generate_save",
                                   "job_finish", "job_fail"), timeout_seconds=1800),
    StateMachine("execute_eval", ("execute_prepare", "execute_chunk", "execute_aggregate", "job_finish", "job_fail"),
                 timeout_seconds=3600),
)


def definition_substitutions(function_arn) -> dict[str, str]:
    """``${Fn_<name>}`` placeholders in ASL files → Lambda ARNs, via ``function_arn(name)``."""
    names = sorted({f for sm in STATE_MACHINES for f in sm.functions})
    return {f"Fn_{n}": function_arn(n) for n in names}


def render_definition(sm: StateMachine, substitutions: dict[str, str], timeout_seconds: int | None = None,
                      max_concurrency: int | None = None) -> str:
    """The ASL text with placeholders substituted (as CloudFormation DefinitionSubstitutions would),
    the time limit set and, when given, every Map state's MaxConcurrency (from settings)."""
    import json

    text = sm.path.read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    doc = json.loads(text)
    doc["TimeoutSeconds"] = timeout_seconds or sm.timeout_seconds
    if max_concurrency:
        for state in doc["States"].values():
            if state["Type"] == "Map":
                state["MaxConcurrency"] = max_concurrency
    return json.dumps(doc)

# Functions not called by a state machine directly (the sandbox is invoked by a task).
EXTRA_FUNCTIONS: tuple[str, ...] = ("sandbox", "scheduled_import", "otlp_assemble")

# Functions a fixed-rate schedule invokes (an EventBridge rule on AWS, infra/local/scheduler.py locally).
PERIODIC_FUNCTIONS: dict[str, str] = {"otlp_assemble": "rate(1 minute)"}


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


_JOBS = ("jobs", "job_events")
_EVALS = ("evals", "executions", "eval_sets")  # the eval repository reads its set too
_RATINGS = ("eval_sets", "feedback")
_JOB_FILES = {"jobs/": READ_WRITE}
_SPANS = {"spans/": READ_WRITE, "otlp_pending/": READ_WRITE}  # received OTLP spans (chalicelib/otlp/spans.py)

FUNCTIONS: tuple[Function, ...] = (
    Function(API_FUNCTION, tables=tuple(t.name for t in TABLES),
             # uploads/: presigned PUTs and direct uploads; jobs/: the upload store also names prepared files;
             # spans/, otlp_pending/: the OTLP receiver stores spans as they come
             bucket={"traces/": READ_WRITE, "uploads/": READ_WRITE, "jobs/": READ, **_SPANS},
             kms=("kms:GenerateDataKey", "kms:Decrypt"),
             state_machines=("import_traces", "generate_eval", "execute_eval"), manages_schedules=True,
             timeout_s=30),
    # an upload's first step: decompress and (OTLP) group the file once, into jobs/ for the pages to read
    Function("upload_prepare", tables=_JOBS, bucket={"uploads/": READ, "jobs/": READ_WRITE},
             timeout_s=900, memory_mb=3008),
    Function("import_page", tables=("traces", "integrations", *_JOBS),
             bucket={"traces/": READ_WRITE, "uploads/": READ, "jobs/": READ}, kms=("kms:Decrypt",)),
    # run-active-evals after an import checks the new traces exist before it starts an execution
    Function("job_finish", tables=(*_JOBS, "integrations", "traces", *_RATINGS, *_EVALS), bucket={"traces/": READ},
             state_machines=("execute_eval",)),
    Function("job_fail", tables=(*_JOBS, "integrations")),
    # the set's scope decides which rated traces train
    Function("generate_load", tables=(*_JOBS, *_RATINGS, "traces"), bucket={**_JOB_FILES, "traces/": READ}),
    # workspaces + kms: the workspace's own LLM endpoint and its sealed key; LLM calls per candidate and fold
    Function("generate_candidates", tables=(*_JOBS, "traces", "workspaces"), bucket={**_JOB_FILES, "traces/": READ},
             kms=("kms:Decrypt",), reads_llm_secret=True, timeout_s=900, memory_mb=1024,
             invokes_sandbox=True),  # the hybrid generator measures the model's predicates in the sandbox
    Function("generate_test", tables=(*_JOBS, "traces"), bucket={**_JOB_FILES, "traces/": READ},
             invokes_sandbox=True, timeout_s=900),
    Function("generate_save", tables=(*_JOBS, "traces", *_RATINGS, *_EVALS), bucket={**_JOB_FILES, "traces/": READ},
             invokes_sandbox=True, timeout_s=900),
    Function("execute_prepare", tables=(*_JOBS, "traces", *_EVALS), bucket={**_JOB_FILES, "traces/": READ}),
    Function("execute_chunk", tables=(*_JOBS, "traces", *_EVALS), bucket={**_JOB_FILES, "traces/": READ},
             invokes_sandbox=True, timeout_s=900),  # waits for the sandbox (300 s)
    Function("execute_aggregate", tables=(*_JOBS, *_RATINGS, *_EVALS), bucket=_JOB_FILES),
    Function("scheduled_import", tables=("integrations", *_JOBS), state_machines=("import_traces",)),
    # with IOFOLD_OTLP_RUN_ACTIVE_EVALS it starts runs of the active evals (handlers.run_active_evals)
    Function("otlp_assemble", tables=("traces", *_JOBS, *_RATINGS, *_EVALS), bucket={"traces/": READ_WRITE, **_SPANS},
             state_machines=("execute_eval",)),
    Function("sandbox", timeout_s=300),  # untrusted code: no resources at all
)


def function(name: str) -> Function:
    """The declaration of one function (KeyError for an undeclared one)."""
    return {f.name: f for f in FUNCTIONS}[name]
