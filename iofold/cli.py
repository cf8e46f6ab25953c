"""``iofold``: the iofold API from a terminal and in CI.

Exit codes: 0 ok, 1 a gate failed (``run --fail-under``), 2 usage or no configuration,
3 the API answered an error, could not be reached, or a job failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from itertools import islice
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from iofold import config
from iofold.client import Client, JobRef
from iofold.errors import ApiError, ConfigError, IofoldError, JobFailed

EXIT_GATE, EXIT_USAGE, EXIT_API = 1, 2, 3

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class State:
    """What the group's options leave for the commands."""

    def __init__(self, api_url: str | None, api_key: str | None, as_json: bool):
        self.api_url, self.api_key, self.as_json = api_url, api_key, as_json
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.api_url, self.api_key)
        return self._client


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit_json(value: Any) -> None:
    """One JSON document on stdout (for scripts)."""
    click.echo(json.dumps(_plain(value), indent=2, ensure_ascii=False))


def command(group: click.Group, name: str, **kw: Any) -> Callable:
    """A subcommand with ``--json`` and the State as its first argument."""

    def decorate(fn: Callable) -> click.Command:
        @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
        @click.pass_obj
        @wraps(fn)
        def wrapper(state: State, *args: Any, as_json: bool, **kwargs: Any) -> Any:
            state.as_json = state.as_json or as_json
            return fn(state, *args, **kwargs)

        return group.command(name, **kw)(wrapper)

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--api-url", envvar=None, metavar="URL",
              help="The API, e.g. https://…/v1. Else $IOFOLD_API_URL, the login file, or the local stack's "
                   ".iofold/local.json.")
@click.option("--api-key", envvar=None, metavar="KEY", help="An API key. Else $IOFOLD_API_KEY, the login file, or "
                                                            "the local stack's key.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables (any command).")
@click.version_option(package_name=None, version=__import__("iofold").__version__, prog_name="iofold")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, api_key: str | None, as_json: bool) -> None:
    """iofold: turn human ratings of LLM-agent traces into tested Python evals.

    \b
    A session:
      iofold login --api-url https://…/v1            # or run `make dev` locally
      iofold upload traces.jsonl.gz --format langfuse
      iofold traces
      iofold review es_…                             # rate with 1/2/3
      iofold generate es_…
      iofold run ev_… --fail-under 0.9               # exit 1 under 90 % pass
      iofold export ev_… --format pytest -o test_refunds.py

    Exit codes: 0 ok, 1 a gate failed, 2 usage or no configuration, 3 an API error or a failed job.
    """
    ctx.obj = State(api_url, api_key, as_json)


# --- progress -------------------------------------------------------------------------------

def wait_with_progress(state: State, job: JobRef, label: str) -> Any:
    """Wait for a job with a progress bar on stderr (none with --json); the ended job."""
    if state.as_json or not err.is_terminal:
        return state.client.wait(job)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[status]}"), console=err, transient=False) as bar:
        task = bar.add_task(label, total=100, status="queued")

        def on_progress(current: Any, events: list) -> None:
            status = events[-1].message if events else current.status
            bar.update(task, completed=current.progress, status=status[:60])

        ended = state.client.wait(job, on_progress=on_progress)
        bar.update(task, completed=100 if ended.status == "succeeded" else ended.progress, status=ended.status)
    return ended


def finish_job(state: State, job: JobRef, label: str) -> Any:
    """Wait for the job, fail (exit 3) when it did not succeed; the job."""
    ended = wait_with_progress(state, job, label)
    if ended.status != "succeeded":
        raise JobFailed(ended)
    return ended


def _table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    table = Table(*columns, title=title, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


# --- commands -------------------------------------------------------------------------------

@cli.command("login")
@click.option("--api-url", "url", metavar="URL", help="The API URL (…/v1). Asked when not given.")
@click.option("--api-key", "key", metavar="KEY", help="An API key. Asked (hidden) when not given.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def login(state: State, url: str | None, key: str | None, as_json: bool) -> None:
    """Check a URL and key against the API and store them for later commands.

    The file is $XDG_CONFIG_HOME/iofold/config.json (~/.config/iofold/config.json), readable by
    you only (0600). Flags and IOFOLD_API_URL/IOFOLD_API_KEY still win over it.
    """
    url = url or state.api_url or click.prompt("API URL (…/v1)")
    key = key or state.api_key or click.prompt("API key", hide_input=True)
    with Client(url, key) as client:
        info = client.workspace()
    path = config.save_login(url, key)
    if as_json or state.as_json:
        emit_json({"login_file": str(path), "workspace": info})
    else:
        out.print(f"Logged in to workspace {info.workspace.name} ({info.workspace.id}) as {info.role}; "
                  f"saved to {path}")


@command(cli, "upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["langfuse", "unified", "otlp"]), default="langfuse",
              show_default=True, help="What each line of the file holds.")
@click.option("--no-wait", is_flag=True, help="Print the job id and return without waiting.")
def upload(state: State, file: Path, fmt: str, no_wait: bool) -> None:
    """Upload a JSON Lines file of traces (plain or .gz) and import it.

    The file goes gzipped on the wire; files past 5 MB (gzipped) go straight to storage
    through a presigned URL.
    """
    accepted = state.client.upload(file, format=fmt)
    _job_outcome(state, accepted, f"upload {file.name}", no_wait)


@command(cli, "import")
@click.argument("integration")
@click.option("--from", "from_", metavar="TIME", help="Only traces at or after this ISO 8601 time.")
@click.option("--to", metavar="TIME", help="Only traces before this ISO 8601 time.")
@click.option("--tag", "tags", multiple=True, help="Only traces carrying this tag (repeatable: all of them).")
@click.option("--name", help="Only traces with this name.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many traces.")
@click.option("--no-wait", is_flag=True, help="Print the job id and return without waiting.")
def import_(state: State, integration: str, from_: str | None, to: str | None, tags: tuple[str, ...],
            name: str | None, limit: int | None, no_wait: bool) -> None:
    """Import traces from an integration (its id) into the workspace."""
    filters = {k: v for k, v in dict(from_timestamp=from_, to_timestamp=to, tags=list(tags) or None, name=name,
                                     limit=limit).items() if v is not None}
    accepted = state.client.import_traces(integration, **filters)
    _job_outcome(state, accepted, f"import {integration}", no_wait)


def _job_outcome(state: State, accepted: Any, label: str, no_wait: bool) -> None:
    if no_wait:
        emit_json(accepted) if state.as_json else out.print(f"job {accepted.job_id} started")
        return
    job = finish_job(state, accepted, label)
    if state.as_json:
        emit_json(job)
    else:
        result = job.result or {}
        out.print(f"job {job.id} {job.status}: " + ", ".join(f"{k} {v}" for k, v in result.items()
                                                              if isinstance(v, (int, float, str))))


@command(cli, "traces")
@click.option("--source", help="A platform (langfuse, langsmith, otlp …), 'upload' or 'integration'.")
@click.option("--tag", help="Only traces with this tag.")
@click.option("--name", help="Only traces with this name.")
@click.option("--from", "from_", metavar="TIME", help="Only traces at or after this time.")
@click.option("--to", metavar="TIME", help="Only traces up to this time.")
@click.option("--eval-set", help="With --rated/--unrated: rated (or not) in this eval set.")
@click.option("--rated/--unrated", default=None, help="Only traces rated (or not) in --eval-set.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="At most this many (0: all, across pages).")
@click.option("--save", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Also write each listed trace, whole (the unified trace an eval receives), to DIR/<id>.json: the "
                   "cases an exported pytest file runs on.")
def traces(state: State, source: str | None, tag: str | None, name: str | None, from_: str | None, to: str | None,
           eval_set: str | None, rated: bool | None, limit: int, save: Path | None) -> None:
    """List trace summaries, newest first."""
    items = state.client.traces(source=source, tag=tag, name=name, from_=from_, to=to, eval_set_id=eval_set,
                                rated=rated, page_size=min(limit or 200, 200))
    found = list(islice(items, limit) if limit else items)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        for summary in found:
            trace = state.client.get_trace(summary.id)
            (save / f"{summary.id}.json").write_text(trace.model_dump_json(indent=1))
    if state.as_json:
        return emit_json(found)
    out.print(_table(["id", "name", "time", "source", "steps", "tool errors", "input"], [
        [t.id, t.name, (t.timestamp or "")[:19], t.source.platform, t.stats.steps, t.stats.tool_errors,
         t.input_preview[:50]] for t in found], title=f"{len(found)} traces"))


@cli.group("eval-sets")
def eval_sets() -> None:
    """List and create eval sets (what good means, and the ratings that show it)."""


@command(eval_sets, "list")
def eval_sets_list(state: State) -> None:
    """List the workspace's eval sets."""
    found = list(state.client.eval_sets())
    if state.as_json:
        return emit_json(found)
    out.print(_table(["id", "name", "criteria"], [[s.id, s.name, s.criteria[:70]] for s in found]))


@command(eval_sets, "create")
@click.argument("name")
@click.option("--criteria", default="", help="In plain words, what makes a trace good or bad.")
@click.option("--description", default="")
@click.option("-q", "--quiet", is_flag=True, help="Print only the new id (for scripts).")
def eval_sets_create(state: State, name: str, criteria: str, description: str, quiet: bool) -> None:
    """Create an eval set."""
    created = state.client.create_eval_set(name, criteria=criteria, description=description)
    if quiet:
        return click.echo(created.id)
    emit_json(created) if state.as_json else out.print(f"{created.id}: {created.name}")


@command(cli, "rate")
@click.argument("eval_set")
@click.argument("trace_id")
@click.argument("rating", type=click.Choice(["good", "bad", "unsure", "positive", "negative", "neutral"]))
@click.option("--notes", default="", help="Why: the generator reads these.")
def rate(state: State, eval_set: str, trace_id: str, rating: str, notes: str) -> None:
    """Rate one trace in an eval set without the interactive review (good, bad or unsure)."""
    rating = {"good": "positive", "bad": "negative", "unsure": "neutral"}.get(rating, rating)
    feedback = state.client.rate(eval_set, trace_id, rating, notes)
    emit_json(feedback) if state.as_json else out.print(f"{trace_id}: {feedback.rating}")


@command(cli, "review")
@click.argument("eval_set")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Stop after this many traces.")
def review(state: State, eval_set: str, limit: int) -> None:
    """Rate an eval set's unrated traces one at a time, with single keys.

    \b
    1 good (positive)   2 bad (negative)   3 unsure (neutral)
    n notes for the next rating   s skip   u undo the last rating   q quit   ? help

    Without a terminal, keys are read from standard input: printf '12s' | iofold review es_…
    """
    from iofold.review import KeyReader, Reviewer

    # with --json the screen goes to stderr, so stdout holds only the summary
    with KeyReader() as keys:
        summary = Reviewer(state.client, eval_set, console=err if state.as_json else out, keys=keys).run(limit=limit)
    if state.as_json:
        emit_json(summary)


@command(cli, "generate")
@click.argument("eval_set")
@click.option("--generator", type=click.Choice(["auto", "anthropic", "offline"]), default="auto", show_default=True,
              help="auto: Claude when the stack has an Anthropic key, else the offline rule inducer.")
@click.option("--model", help="The LLM model (anthropic).")
@click.option("--candidates", type=click.IntRange(1, 8), help="Candidates to write and compare.")
@click.option("--instructions", help="Extra guidance for the generator.")
@click.option("--activate", is_flag=True, help="Make the new version the set's active one.")
def generate(state: State, eval_set: str, generator: str, model: str | None, candidates: int | None,
             instructions: str | None, activate: bool) -> None:
    """Write an eval from the set's ratings; prints the new version and its agreement."""
    accepted = state.client.generate(eval_set, generator=generator, model=model, candidates=candidates,
                                     instructions=instructions)
    job = finish_job(state, accepted, f"generate {eval_set}")
    version = state.client.get_eval(job.result["eval_id"])
    if activate:
        version = state.client.activate(version.id)
    if state.as_json:
        return emit_json({"job": job, "eval": version})
    m = version.metrics
    out.print(f"{version.id}: {version.name} v{version.version} ({version.generator}, {version.status})")
    out.print(_table(["held-out accuracy", "training accuracy", "kappa", "n"], [[
        _pct(m.get("heldout_accuracy")), _pct(m.get("training_accuracy")), _num(m.get("cohen_kappa")), m.get("n")]]))


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _evals_to_run(state: State, target: str | None, active: bool) -> list[Any]:
    """The versions ``run`` runs: an eval id, an eval set's active version, or every active version."""
    client = state.client
    if active:
        return [v for s in client.eval_sets() for v in client.evals(s.id) if v.status == "active"]
    if target is None:
        raise click.UsageError("name an EVAL (eval id or eval set id) or pass --active")
    if target.startswith("es_"):
        chosen = [v for v in client.evals(target) if v.status == "active"]
        if not chosen:
            raise click.UsageError(f"eval set {target} has no active version: activate one or name an eval id")
        return chosen
    return [client.get_eval(target)]


@command(cli, "run")
@click.argument("eval_", metavar="[EVAL]", required=False)
@click.option("--active", is_flag=True, help="Run every eval set's active version.")
@click.option("--traces", "trace_ids", multiple=True, metavar="IDS",
              help="Only these trace ids (repeat, or comma-separated). Default: all traces (filtered below).")
@click.option("--from", "from_", metavar="TIME", help="Only traces at or after this time (e.g. fresh imports).")
@click.option("--to", metavar="TIME", help="Only traces up to this time.")
@click.option("--source", help="Only traces from this platform or integration.")
@click.option("--tag", help="Only traces with this tag.")
@click.option("--only-missing", is_flag=True, help="Skip traces this version already has a result for.")
@click.option("--fail-under", type=click.FloatRange(0, 1), metavar="X",
              help="Exit 1 when the pass rate (or with --agreement, the agreement with human ratings) is below X "
                   "(0-1).")
@click.option("--agreement", is_flag=True, help="Gate on agreement with the set's human ratings (accuracy over "
                                                 "rated traces) instead of the pass rate.")
@click.option("--allow-empty", is_flag=True, help="A run that executed no trace passes the gate (default: fails).")
def run(state: State, eval_: str | None, active: bool, trace_ids: tuple[str, ...], from_: str | None, to: str | None,
        source: str | None, tag: str | None, only_missing: bool, fail_under: float | None, agreement: bool,
        allow_empty: bool) -> None:
    """Run an eval over traces and report its pass rate; gate CI with --fail-under.

    EVAL is an eval id (ev_…) or an eval set id (es_…: its active version).
    """
    ids = [i.strip() for chunk in trace_ids for i in chunk.split(",") if i.strip()] or None
    filters = {k: v for k, v in {"from": from_, "to": to, "source": source, "tag": tag}.items() if v} or None
    versions = _evals_to_run(state, eval_, active)
    reports, failed = [], []
    for version in versions:
        accepted = state.client.execute(version.id, trace_ids=ids, filters=filters, only_missing=only_missing)
        result = finish_job(state, accepted, f"run {version.name} v{version.version}").result
        executed = result.get("executed", 0)
        pass_rate = result.get("pass", 0) / executed if executed else None
        metrics = result.get("metrics") or {}
        agree = metrics.get("accuracy") if metrics.get("n") else None
        measured = agree if agreement else pass_rate
        gate = None
        if fail_under is not None:
            gate = (allow_empty if measured is None else measured >= fail_under)
            if not gate:
                failed.append(version.id)
        reports.append({"eval_id": version.id, "eval_set_id": version.eval_set_id, "name": version.name,
                        "version": version.version, "job_id": accepted.job_id, "executed": executed,
                        **{k: result.get(k, 0) for k in ("pass", "fail", "error", "timeout")},
                        "pass_rate": pass_rate, "agreement": agree, "agreement_n": metrics.get("n", 0),
                        "gate": None if fail_under is None else {"on": "agreement" if agreement else "pass_rate",
                                                                 "fail_under": fail_under, "passed": gate}})
    if state.as_json:
        emit_json({"runs": reports, "passed": not failed})
    else:
        out.print(_table(["eval", "version", "executed", "pass", "fail", "error", "timeout", "pass rate",
                          "agreement", "gate"], [
            [r["name"], r["version"], r["executed"], r["pass"], r["fail"], r["error"], r["timeout"],
             _pct(r["pass_rate"]), _pct(r["agreement"]),
             "" if r["gate"] is None else ("ok" if r["gate"]["passed"] else f"FAILED (< {fail_under})")]
            for r in reports]))
    if not versions:
        err.print("no eval to run")
        if fail_under is not None and not allow_empty:
            failed.append("(no active eval)")
    if failed:
        err.print(f"gate failed: {', '.join(failed)} under {fail_under}")
        sys.exit(EXIT_GATE)


@command(cli, "matrix")
@click.argument("eval_set")
@click.option("--eval", "eval_ids", multiple=True, help="Columns: these eval ids (default: the active version and "
                                                        "the two newest).")
@click.option("--filter", "filter_", type=click.Choice(["all", "contradictions", "errors"]), default="all",
              show_default=True)
@click.option("--rating", type=click.Choice(["positive", "negative", "neutral"]), help="Only rows rated so.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many rows.")
def matrix(state: State, eval_set: str, eval_ids: tuple[str, ...], filter_: str, rating: str | None,
           limit: int) -> None:
    """Rated traces against eval versions: where each version agrees with the human."""
    query = {"eval_ids": list(eval_ids) or None, "filter": filter_, "rating": rating, "limit": min(limit, 200)}
    page = state.client.matrix(eval_set, **query)
    rows = list(islice(state.client.matrix_rows(eval_set, first=page, **query), limit))
    if state.as_json:
        return emit_json({**page.model_dump(mode="json"), "rows": _plain(rows)})
    out.print(_table(["eval", "version", "status", "n", "accuracy", "kappa"], [
        [e.name, e.version, e.status, page.stats.get(e.id) and page.stats[e.id].n,
         _pct(page.stats[e.id].accuracy if e.id in page.stats else None),
         _num(page.stats[e.id].cohen_kappa if e.id in page.stats else None)] for e in page.evals]))
    marks = {True: "✓", False: "✗", None: "·"}
    out.print(_table(["trace", "human", *[f"v{e.version}" for e in page.evals]], [
        [r.trace_id, r.human.rating,
         *[(f"{r.results[e.id].result} {marks[r.results[e.id].agrees]}" if e.id in r.results else "")
           for e in page.evals]] for r in rows], title=f"{len(rows)} rows"))


@command(cli, "export")
@click.argument("eval_")
@click.option("--format", "fmt", type=click.Choice(["python", "pytest"]), default="python", show_default=True,
              help="python: the eval module; pytest: a test file with the rated traces as cases.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: the server's file name in the current folder; '-' for stdout).")
def export(state: State, eval_: str, fmt: str, output: Path | None) -> None:
    """Export an eval version as a Python module or a pytest file for your own repo."""
    filename, text = state.client.export(eval_, fmt)
    if str(output) == "-":
        return click.echo(text, nl=False)
    path = output or Path(filename)
    path.write_text(text)
    if state.as_json:
        emit_json({"eval_id": eval_, "format": fmt, "path": str(path), "bytes": len(text.encode())})
    else:
        out.print(f"wrote {path}")


@command(cli, "jobs")
@click.argument("job_id", required=False)
@click.option("--wait", "wait_", is_flag=True, help="With JOB_ID: wait for it with a progress bar.")
@click.option("--cancel", is_flag=True, help="With JOB_ID: cancel it.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def jobs(state: State, job_id: str | None, wait_: bool, cancel: bool, limit: int) -> None:
    """List recent jobs, or show, wait for or cancel one."""
    client = state.client
    if job_id is None:
        if wait_ or cancel:
            raise click.UsageError("--wait and --cancel need a JOB_ID")
        found = list(islice(client.jobs(), limit))
        if state.as_json:
            return emit_json(found)
        return out.print(_table(["id", "type", "status", "progress", "created", "error"], [
            [j.id, j.type, j.status, f"{j.progress} %", j.created_at[:19], (j.error or "")[:60]] for j in found]))
    job = client.cancel_job(job_id) if cancel else client.get_job(job_id)
    if wait_:
        job = wait_with_progress(state, job, f"{job.type} {job.id}")
    if state.as_json:
        return emit_json(job)
    out.print(f"{job.id} {job.type} {job.status} {job.progress} %" + (f": {job.error}" if job.error else ""))
    if job.result:
        out.print_json(data=job.result)


@command(cli, "schedule")
@click.argument("integration")
@click.argument("expression", required=False)
@click.option("--run-active-evals", is_flag=True, help="After each import, run every active eval on new traces.")
@click.option("--delete", is_flag=True, help="Remove the integration's schedule.")
def schedule(state: State, integration: str, expression: str | None, run_active_evals: bool, delete: bool) -> None:
    """Import from an integration on a schedule: EXPRESSION is rate(1 hour) or cron(0 6 * * ? *).

    Without EXPRESSION (and without --delete), shows the current schedule.
    """
    client = state.client
    if delete:
        client.delete_schedule(integration)
        return emit_json({"integration_id": integration, "schedule": None}) if state.as_json else out.print(
            f"schedule of {integration} removed")
    found = (client.put_schedule(integration, expression, run_active_evals=run_active_evals) if expression
             else client.get_integration(integration))
    if state.as_json:
        return emit_json(found)
    sched = found.schedule
    out.print(f"{found.id} ({found.name}): " + (f"{sched.expression}, run active evals: {sched.run_active_evals}"
                                                  if sched else "no schedule"))


def main(argv: list[str] | None = None) -> None:
    """The console script: runs the CLI and maps errors to exit codes."""
    try:
        cli.main(args=argv, prog_name="iofold", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        err.print(f"error: {exc}")
        sys.exit(EXIT_USAGE)
    except ApiError as exc:
        err.print(f"error: {exc.status} {exc.code}: {exc.message}")
        for detail in exc.details[:20]:
            err.print(f"  {json.dumps(detail, ensure_ascii=False)}")
        sys.exit(EXIT_API)
    except IofoldError as exc:
        err.print(f"error: {exc}")
        sys.exit(EXIT_API)
    sys.exit(0)


if __name__ == "__main__":
    main()
