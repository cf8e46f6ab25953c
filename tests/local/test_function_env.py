"""The environment-variable contract: every function reads its resources only through the
variables infra/resources.py declares for it (the template sets exactly those; the local stack
lets a handler see only those while it runs, so every state-machine and API test checks it)."""

import ast
from pathlib import Path
from unittest import mock

import pytest

from chalicelib import wiring
from chalicelib.config import JOB_RETENTION_DAYS_VAR, ConfigError, only_variables, settings_from_env
from infra import resources


def test_every_function_of_the_app_is_declared():
    from app import app

    deployed = {f.name for f in app.pure_lambda_functions} | {resources.API_FUNCTION}
    assert deployed == {f.name for f in resources.FUNCTIONS}


def test_a_missing_variable_is_a_config_error_naming_it():
    settings = settings_from_env({"AWS_DEFAULT_REGION": "us-east-1"})
    with pytest.raises(ConfigError, match="IOFOLD_TABLE_TRACES"):
        settings.table("traces")
    with pytest.raises(ConfigError, match="IOFOLD_SM_EXECUTE_EVAL"):
        settings.state_machine_arn("execute_eval")
    assert settings_from_env({"IOFOLD_BUCKET": "b"}).bucket == "b"


def test_a_function_sees_only_its_own_variables_even_with_repositories_cached(stack):
    wiring.eval_repo(), wiring.sandbox(), wiring.job_repo()  # built unscoped, as by another function
    with only_variables(resources.function("job_fail").env_vars()):
        wiring.job_repo()
        with pytest.raises(ConfigError, match="IOFOLD_SANDBOX_FUNCTION"):
            wiring.sandbox()
        with pytest.raises(ConfigError, match="IOFOLD_TABLE_EVALS"):
            wiring.eval_repo()
    with only_variables(resources.function(resources.API_FUNCTION).env_vars()):
        with pytest.raises(ConfigError, match="IOFOLD_SANDBOX_FUNCTION"):
            wiring.sandbox()
    with only_variables(tuple(v for v in resources.function("generate_candidates").env_vars()
                              if v != "IOFOLD_LLM_SECRET_ARN")):
        # the LLM secret is optional: without it generation says why it ran offline
        assert "IOFOLD_LLM_SECRET_ARN" in wiring.generator("auto", "ws_none")[1]


def test_local_handlers_run_with_only_their_declared_variables(stack):
    from infra.local.stack import scoped_handlers

    def reaches_the_sandbox(event, context):
        return wiring.sandbox()._function

    handlers = scoped_handlers({"execute_chunk": reaches_the_sandbox, "job_finish": reaches_the_sandbox})
    assert handlers["execute_chunk"]({}, None) == stack.provisioned.env["IOFOLD_SANDBOX_FUNCTION"]
    with pytest.raises(ConfigError, match="IOFOLD_SANDBOX_FUNCTION"):
        handlers["job_finish"]({}, None)
    with pytest.raises(KeyError):
        scoped_handlers({"not_declared": reaches_the_sandbox})


def test_the_local_stack_sets_every_declared_variable(stack):
    declared = {v for f in resources.FUNCTIONS for v in f.env_vars()}
    assert declared <= set(stack.provisioned.env)
    assert all(stack.provisioned.env[v] for v in declared)


@pytest.fixture
def llm_secret_with_a_key(stack, monkeypatch):
    """A filled LLM secret named by IOFOLD_LLM_SECRET_ARN (the stack's own stays empty)."""
    from chalicelib.clients import aws_client
    from chalicelib.config import LLM_SECRET_ARN_VAR

    arn = aws_client("secretsmanager").create_secret(Name=f"llm-key-{id(monkeypatch)}",
                                                     SecretString="sk-ant-test-not-a-real-key\n")["ARN"]
    monkeypatch.setenv(LLM_SECRET_ARN_VAR, arn)
    wiring.reset()
    yield arn
    monkeypatch.undo()
    wiring.reset()


def test_generation_reads_the_llm_key_from_the_secret_only_where_declared(llm_secret_with_a_key):
    from chalicelib.clients import llm_api_key

    with only_variables(resources.function("generate_candidates").env_vars()):
        assert llm_api_key() == ("sk-ant-test-not-a-real-key", "the LLM secret")
        generator, reason = wiring.generator("auto", "ws_none")
        assert generator.name == "anthropic" and reason.startswith("LLM key from the LLM secret; hybrid: ")
    with only_variables(resources.function(resources.API_FUNCTION).env_vars()):
        assert llm_api_key()[0] is None


def test_an_empty_llm_secret_means_offline_and_says_so(stack):
    from chalicelib.generation.base import LlmKeyMissing

    with only_variables(resources.function("generate_candidates").env_vars()):
        generator, reason = wiring.generator("auto", "ws_none")
        assert generator.name == "offline" and reason == "no LLM key configured (secret empty)"
        with pytest.raises(LlmKeyMissing, match="secret empty"):
            wiring.generator("anthropic", "ws_none")


# --- declarations match the code, both ways --------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
# Every module whose functions call wiring's getters (checked below, so the analysis stays complete).
ANALYZED = {"app": ROOT / "app.py", "handlers": ROOT / "chalicelib" / "handlers.py",
            "fetchers": ROOT / "chalicelib" / "traces" / "fetchers.py"}
WEB = ROOT / "chalicelib" / "web.py"  # every API request passes through it (authentication)


def _call_graph() -> tuple[dict, dict]:
    """Top-level functions of the analyzed modules, and the functions/getters each one calls."""
    trees = {mod: ast.parse(path.read_text()) for mod, path in ANALYZED.items()}
    defs = {(mod, node.name): node for mod, tree in trees.items() for node in tree.body
            if isinstance(node, ast.FunctionDef)}
    imported = {}  # (module, local name) -> (module, function) for `from chalicelib.traces.fetchers import x`
    for mod, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "chalicelib.traces.fetchers":
                imported.update({(mod, a.asname or a.name): ("fetchers", a.name) for a in node.names})
    edges: dict = {}
    for (mod, name), fn in defs.items():
        out = set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "wiring":
                arg = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                out.add(("wiring", f.attr, arg))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "handlers":
                out.add(("handlers", f.attr))
            elif isinstance(f, ast.Name) and (mod, f.id) in defs:
                out.add((mod, f.id))
            elif isinstance(f, ast.Name) and (mod, f.id) in imported:
                out.add(imported[(mod, f.id)])
        edges[(mod, name)] = out
    return defs, edges


def _getters_reached(entries, edges) -> set:
    seen, todo, getters = set(), list(entries), set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for callee in edges.get(node, ()):
            (getters.add if callee[0] == "wiring" else todo.append)(callee)
    return getters


def _variables_read(getter: tuple, every_variable) -> set[str]:
    """Call one wiring getter with every variable visible; the variables it read."""
    _, name, arg = getter
    read: set[str] = set()
    with only_variables(every_variable, record=read):
        fn = getattr(wiring, name)
        fn(arg or "auto", "ws_none") if name == "generator" else (fn(arg) if arg else fn())
    if name == "generator":  # and with a key, the hybrid generator's path (it measures predicates in the sandbox)
        with only_variables(every_variable, record=read), \
                mock.patch.object(wiring.clients, "llm_api_key", return_value=("sk-test", "a test key")):
            wiring.generator(arg or "auto", "ws_none")
    return read


def _entries_and_edges() -> tuple[dict, dict]:
    """Each function's entry points (its lambda handler; the API: every route and web.py) and the call graph."""
    _, edges = _call_graph()
    edges[("web", "*")] = {("wiring", n.func.attr, None) for n in ast.walk(ast.parse(WEB.read_text()))
                           if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                           and isinstance(n.func.value, ast.Name) and n.func.value.id == "wiring"}
    app_tree = ast.parse(ANALYZED["app"].read_text())
    lambdas, routes = {}, []
    for node in app_tree.body:
        for deco in getattr(node, "decorator_list", []):
            if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute):
                if deco.func.attr == "lambda_function":
                    lambdas[next(k.value.value for k in deco.keywords if k.arg == "name")] = ("app", node.name)
                elif deco.func.attr == "route":
                    routes.append(("app", node.name))
    entries = {name: [entry] for name, entry in lambdas.items()} | {resources.API_FUNCTION: [*routes, ("web", "*")]}
    return entries, edges


def test_declarations_are_exactly_what_each_function_can_reach(stack):
    """Statically (every path, not just the tested ones): the wiring getters a handler can reach,
    through app.py, handlers.py and fetchers.py, read exactly the variables its declaration lists."""
    entries, edges = _entries_and_edges()
    every_variable = tuple(stack.provisioned.env)
    for fn in resources.FUNCTIONS:
        getters = _getters_reached(entries[fn.name], edges)
        reached = set().union(*[_variables_read(g, every_variable) for g in getters])
        assert reached == set(fn.env_vars()), (fn.name, "undeclared:", reached - set(fn.env_vars()),
                                               "declared but unreachable:", set(fn.env_vars()) - reached)
        prefixes = set().union(*[BUCKET_PREFIXES.get(g[1], set()) for g in getters])
        assert prefixes == set(fn.bucket), (fn.name, prefixes, fn.bucket)


def test_every_function_that_writes_jobs_gets_the_job_retention_and_temporary_objects_expire():
    """The job repository stamps ``expires_at`` from IOFOLD_JOB_RETENTION_DAYS: every function that can
    reach it gets the variable (from the template's parameter); job files and uploads expire, traces never."""
    entries, edges = _entries_and_edges()
    for fn in resources.FUNCTIONS:
        writes_jobs = ("wiring", "job_repo", None) in _getters_reached(entries[fn.name], edges)
        assert (JOB_RETENTION_DAYS_VAR in fn.setting_vars()) == writes_jobs, fn.name
    expiring = {e.prefix for e in resources.EXPIRING_PREFIXES}
    assert expiring == BUCKET_PREFIXES["job_files"] | BUCKET_PREFIXES["upload_store"]
    assert not expiring & (BUCKET_PREFIXES["trace_repo"] | BUCKET_PREFIXES["span_store"])


# Which data-bucket key prefixes each getter's objects live under (the source check below keeps it true).
BUCKET_PREFIXES = {"job_files": {"jobs/"}, "trace_repo": {"traces/"}, "upload_store": {"uploads/", "jobs/"},
                   "span_store": {"spans/", "otlp_pending/"}, "deleted_sets": {"deleted_sets/"}}
PREFIX_SOURCES = {("jobs/", "chalicelib/jobs/files.py"), ("traces/", "chalicelib/traces/repository.py"),
                  ("traces/", "chalicelib/traces/bodies.py"),  # the trace repository's page objects
                  ("uploads/", "chalicelib/traces/uploads.py"), ("jobs/", "chalicelib/traces/uploads.py"),
                  ("spans/", "chalicelib/otlp/spans.py"), ("otlp_pending/", "chalicelib/otlp/spans.py"),
                  ("deleted_sets/", "chalicelib/evalsets/cleanup.py")}


def test_every_object_key_prefix_is_known():
    """Modules that write objects build keys under jobs/, traces/ and uploads/ only, where the mapping says."""
    import re

    s3_modules = [p for p in (ROOT / "chalicelib").rglob("*.py") if re.search(r"put_object|presigned", p.read_text())]
    found = {(prefix, str(path.relative_to(ROOT))) for path in s3_modules
             for prefix in re.findall(r'f"([a-z_]+/)\{', path.read_text())}
    assert found == PREFIX_SOURCES


def test_only_the_analyzed_modules_call_wiring():
    callers = {p for p in (ROOT / "chalicelib").rglob("*.py") if "wiring." in p.read_text()}
    callers.discard(ROOT / "chalicelib" / "wiring.py")
    assert callers <= {*ANALYZED.values(), WEB}
