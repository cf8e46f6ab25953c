"""Create a deployment's first workspace and owner API key, directly in the stack's tables.

    python -m infra.bootstrap --stage dev                 # tables of stack iofold-dev
    python -m infra.bootstrap --stack-name my-stack       # tables of that stack
    IOFOLD_TABLE_WORKSPACES=… IOFOLD_TABLE_API_KEYS=… python -m infra.bootstrap

Idempotent: when the deployment already has a workspace, nothing is created and it says so.
The key is printed once, when it is created (only its hash is stored). It goes through the
same repository and service code as ``POST /v1/workspaces`` (chalicelib/auth).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.models import CreatedWorkspace, Workspace
from chalicelib.auth.repository import AuthRepository
from chalicelib.auth.service import ensure_first_workspace
from chalicelib.config import table_var

AUTH_TABLES = ("workspaces", "api_keys")
DEFAULT_WORKSPACE_NAME = "iofold"


class BootstrapError(Exception):
    """The tables could not be found."""


def table_logical_id(name: str) -> str:
    """The template's logical id of a table (``api_keys`` → ``TableApiKeys``)."""
    from infra.template import table_id

    return table_id(name)


def stack_resources(cfn: Any, stack_name: str) -> dict[str, str]:
    """Logical id → physical id of every resource of a stack."""
    out: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            out[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")
    return out


def tables_from_stack(cfn: Any, stack_name: str) -> dict[str, str]:
    """The auth tables' names, from the stack's resources."""
    return tables_from_resources(stack_resources(cfn, stack_name), stack_name)


def tables_from_resources(resources: Mapping[str, str], stack_name: str) -> dict[str, str]:
    """The auth tables' names from a stack's resources (``stack_resources``' answer)."""
    missing = [table_logical_id(t) for t in AUTH_TABLES if not resources.get(table_logical_id(t))]
    if missing:
        raise BootstrapError(f"stack {stack_name} has no {', '.join(missing)}")
    return {t: resources[table_logical_id(t)] for t in AUTH_TABLES}


def tables_from_env(env: Mapping[str, str]) -> dict[str, str] | None:
    """The auth tables' names from IOFOLD_TABLE_* variables, or None when they are not all set."""
    found = {t: env.get(table_var(t), "") for t in AUTH_TABLES}
    return found if all(found.values()) else None


@dataclass(frozen=True)
class BootstrapResult:
    workspace: Workspace
    api_key: str | None  # set only on the run that created it

    @property
    def created(self) -> bool:
        return self.api_key is not None

    def describe(self, *, show_key: bool = True) -> str:
        """What happened, for the terminal; the key appears only on the run that created it."""
        ws = self.workspace
        if self.created:
            key = self.api_key if show_key else "(printed at the end)"
            return (f"bootstrap: created workspace {ws.id} ({ws.name!r}) and its owner API key.\n"
                    f"  owner API key (shown only now; store it): {key}")
        return (f"bootstrap: workspace {ws.id} ({ws.name!r}) already exists; nothing created "
                f"(its owner key was shown when it was created; mint more with POST /v1/api-keys)")


def bootstrap(dynamodb: Any, dynamodb_client: Any, tables: Mapping[str, str],
              name: str = DEFAULT_WORKSPACE_NAME) -> BootstrapResult:
    """Create the first workspace and owner key in ``tables`` unless a workspace exists."""
    repo = AuthRepository(dynamodb.Table(tables["workspaces"]), dynamodb.Table(tables["api_keys"]), dynamodb_client)
    outcome = ensure_first_workspace(name, repo=repo)
    if isinstance(outcome, CreatedWorkspace):
        return BootstrapResult(outcome.workspace, outcome.api_key)
    return BootstrapResult(outcome, None)


def run(session: Any, *, stack_name: str | None, env: Mapping[str, str], name: str = DEFAULT_WORKSPACE_NAME,
        endpoint_url: str | None = None) -> BootstrapResult:
    """Find the tables (the stack's, when named; else the environment's) and bootstrap them."""
    kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    if stack_name:
        tables = tables_from_stack(session.client("cloudformation", **kwargs), stack_name)
    else:
        tables = tables_from_env(env)
        if tables is None:
            raise BootstrapError(f"name a stack (--stack-name/--stage) or set "
                                 f"{' and '.join(table_var(t) for t in AUTH_TABLES)}")
    return bootstrap(session.resource("dynamodb", **kwargs), session.client("dynamodb", **kwargs), tables, name)


def main(argv: list[str] | None = None) -> int:
    import boto3

    from infra.deploy import stack_name_for

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", help="the stage whose stack (iofold-<stage>) holds the tables")
    parser.add_argument("--stack-name", help="the stack that holds the tables (default: iofold-<stage>)")
    parser.add_argument("--name", default=DEFAULT_WORKSPACE_NAME, help="the first workspace's name")
    parser.add_argument("--region", default=None)
    args = parser.parse_args(argv)
    stack = args.stack_name or (stack_name_for(args.stage) if args.stage else None)
    session = boto3.session.Session(region_name=args.region or os.environ.get("AWS_DEFAULT_REGION")
                                    or os.environ.get("AWS_REGION"))
    try:
        result = run(session, stack_name=stack, env=os.environ, name=args.name)
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    print(result.describe(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
