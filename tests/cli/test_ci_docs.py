"""docs/ci.md stays true to the CLI: its workflows are valid YAML and every `iofold …` command in
them and in its shell blocks parses with the CLI's real options (nothing runs)."""

from __future__ import annotations

import re
import shlex

import click
import yaml

from iofold.cli import cli
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "ci.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)


def _commands(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    joined = re.sub(r"\$\{\{[^}]*\}\}", "X", joined)  # GitHub expressions
    found = []
    for line in joined.splitlines():
        line = re.sub(r"^\s*(- |run: )*", "", line.strip()).split(" #")[0].split(">")[0]
        if line.startswith("iofold "):
            found.append(shlex.split(line)[1:])
    return found


def _parse(args: list[str]) -> None:
    ctx = cli.make_context("iofold", list(args), resilient_parsing=False)
    name, command, rest = cli.resolve_command(ctx, ctx.protected_args + ctx.args)
    command.make_context(name, rest, parent=ctx)


def test_the_workflows_are_yaml_with_steps():
    workflows = [yaml.safe_load(block) for block in _blocks("yaml")]
    assert workflows[0]["jobs"]["evals"]["steps"] and "script" in workflows[1]["evals"]


def test_every_iofold_command_in_the_doc_parses():
    commands = [c for block in _blocks("yaml") + _blocks("bash") for c in _commands(block)]
    assert {c[0] for c in commands} >= {"import", "run", "export", "traces"}
    for args in commands:
        try:
            _parse(args)
        except click.UsageError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"iofold {' '.join(args)}: {exc}") from exc


def test_a_wrong_option_would_be_caught():
    try:
        _parse(["run", "--active", "--fail-below", "0.9"])
    except click.UsageError:
        return
    raise AssertionError("an unknown option parsed")
