"""Static validation of eval code (SECURITY.md layer 4): a clear 422 before anything runs.

Not the wall — the locked-down child process is — but it refuses the known escape shapes:
private and frame attributes, module-graph walks, ``str.format`` walks, match class-pattern
attributes, string annotations, dangerous builtins, imports outside the allowlist, and any
top-level statement that would run code at import time.
"""

from __future__ import annotations

import ast
import functools

from chalicelib.errors import CodeRejected
from chalicelib.sandbox.child import ALLOWED_MODULES, make_standin, public_members, warm_imports

MAX_SOURCE_BYTES = 20_000
# Syntax-tree depth: real evals nest ~15 levels; a chain like ``1+1+…`` or ``-----x`` under the
# size cap nests thousands, which breaks any recursive walk (here, in compile() or later).
MAX_NESTING = 100

DENIED_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "type", "globals",
    "vars", "locals", "breakpoint", "help", "input", "exit", "quit", "super", "object",
    "memoryview", "dir", "classmethod", "staticmethod", "property",
})
# Attributes that only ever lead somewhere an eval has no business going.
DENIED_ATTRS = frozenset({
    "format", "format_map", "vformat", "get_field", "mro", "sys", "os", "modules", "builtins",
    "enum", "random", "codecs", "contextlib", "functools", "collections", "abc", "types",
    "copyreg", "warnings", "weakref", "io", "subprocess", "posix", "importlib", "linecache",
    "traceback", "inspect", "gc", "ctypes", "signal", "socket", "shutil", "pathlib",
    "tempfile", "threading", "operator", "decimal", "fractions", "numbers", "keyword",
    "load_module", "exec_module", "loader", "spec", "get_type_hints",
})
DENIED_ATTR_PREFIXES = ("_", "gi_", "f_", "tb_", "co_", "cr_", "ag_")

ALLOWED_NODES = frozenset({
    # statements
    ast.Module, ast.FunctionDef, ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign,
    ast.For, ast.While, ast.If, ast.Raise, ast.Try, ast.Assert, ast.Import, ast.ImportFrom,
    ast.Pass, ast.Break, ast.Continue, ast.Expr, ast.Match, ast.Delete,
    # expressions
    ast.BoolOp, ast.NamedExpr, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Dict,
    ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Compare, ast.Call,
    ast.FormattedValue, ast.JoinedStr, ast.Constant, ast.Attribute, ast.Subscript,
    ast.Starred, ast.Name, ast.List, ast.Tuple, ast.Slice,
    # contexts, operators and parts
    ast.Load, ast.Store, ast.Del, ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.MatMult,
    ast.Div, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd,
    ast.FloorDiv, ast.Invert, ast.Not, ast.UAdd, ast.USub, ast.Eq, ast.NotEq, ast.Lt,
    ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn, ast.comprehension,
    ast.ExceptHandler, ast.arguments, ast.arg, ast.keyword, ast.alias,
    ast.match_case, ast.MatchValue, ast.MatchSingleton, ast.MatchSequence, ast.MatchMapping,
    ast.MatchClass, ast.MatchStar, ast.MatchAs, ast.MatchOr,
})
NODE_WORDS = {
    "AsyncFunctionDef": "async functions", "Await": "await", "Yield": "yield",
    "YieldFrom": "yield from", "ClassDef": "class definitions", "TryStar": "try/except*",
    "With": "with statements", "AsyncWith": "async with", "AsyncFor": "async for",
    "Global": "global statements", "Nonlocal": "nonlocal statements",
}
# Calls allowed in a top-level constant, e.g. PATTERN = re.compile(r"...").
TOP_LEVEL_CALLS = frozenset({"compile", "frozenset", "set", "tuple", "list", "dict"})


@functools.lru_cache(maxsize=1)
def module_members() -> dict[str, frozenset[str]]:
    """Names each allowed module exposes inside the sandbox."""
    warm_imports()
    return {name: frozenset(dir(make_standin(name, public_members(name)))) for name in ALLOWED_MODULES}


def _reject(reason: str, node: ast.AST | None = None) -> CodeRejected:
    return CodeRejected(reason, getattr(node, "lineno", None))


def _check_identifier(name: str | None, node: ast.AST, what: str) -> None:
    if name is not None and name.startswith("_") and name != "_":
        raise _reject(f"{what} {name!r} starts with an underscore", node)


def _check_attribute(attr: str, node: ast.AST) -> None:
    if attr.startswith(DENIED_ATTR_PREFIXES):
        raise _reject(f"attribute {attr!r} is not allowed (private, frame or code attribute)", node)
    if attr in DENIED_ATTRS:
        raise _reject(f"attribute {attr!r} is not allowed", node)


def _check_import(node: ast.Import | ast.ImportFrom) -> None:
    members = module_members()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                raise _reject(f"import of {alias.name!r} is not allowed (allowed: {', '.join(ALLOWED_MODULES)})", node)
            _check_identifier(alias.asname, node, "name")
        return
    if node.level or node.module not in ALLOWED_MODULES:
        raise _reject(f"import from {node.module!r} is not allowed (allowed: {', '.join(ALLOWED_MODULES)})", node)
    for alias in node.names:
        if alias.name == "*":
            raise _reject("star imports are not allowed", node)
        if alias.name not in members[node.module]:
            raise _reject(f"{node.module}.{alias.name} is not available in the sandbox", node)
        _check_identifier(alias.asname, node, "name")


def _check_annotation(annotation: ast.AST | None) -> None:
    if annotation is None:
        return
    for sub in ast.walk(annotation):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            raise _reject("string annotations are not allowed", sub)


def _check_node(node: ast.AST) -> None:
    kind = type(node)
    if kind not in ALLOWED_NODES:
        words = NODE_WORDS.get(kind.__name__, f"{kind.__name__} nodes")
        raise _reject(f"{words} are not allowed", node)
    if isinstance(node, ast.Name):
        _check_identifier(node.id, node, "name")
        if node.id in DENIED_NAMES:
            raise _reject(f"name {node.id!r} is not allowed", node)
    elif isinstance(node, ast.Attribute):
        _check_attribute(node.attr, node)
    elif isinstance(node, ast.FunctionDef):
        _check_identifier(node.name, node, "function name")
        _check_annotation(node.returns)
    elif isinstance(node, ast.arg):
        _check_identifier(node.arg, node, "argument")
        _check_annotation(node.annotation)
    elif isinstance(node, ast.AnnAssign):
        _check_annotation(node.annotation)
    elif isinstance(node, ast.keyword):
        _check_identifier(node.arg, node, "keyword")
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        _check_import(node)
    elif isinstance(node, ast.ExceptHandler):
        _check_identifier(node.name, node, "name")
    elif isinstance(node, (ast.MatchAs, ast.MatchStar)):
        _check_identifier(node.name, node, "name")
    elif isinstance(node, ast.MatchMapping):
        _check_identifier(node.rest, node, "name")
    elif isinstance(node, ast.MatchClass):
        for attr in node.kwd_attrs:
            _check_identifier(attr, node, "pattern attribute")
            _check_attribute(attr, node)


def _walk_in_source_order(tree: ast.AST):
    """(node, line) pairs depth-first in source order; a node without a line takes its parent's.
    Iterative, and refuses trees nested deeper than MAX_NESTING before anything recurses over them."""
    stack = [(tree, None, 0)]
    while stack:
        node, line, depth = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > MAX_NESTING:
            raise CodeRejected(f"code is nested more than {MAX_NESTING} levels deep", line)
        yield node, line
        stack.extend((child, line, depth + 1) for child in reversed(list(ast.iter_child_nodes(node))))


def _is_constant_expression(node: ast.AST) -> bool:
    """Literals, names, attributes and a few constructor calls: nothing that loops or prints."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Attribute):
        return _is_constant_expression(node.value)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant_expression(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _is_constant_expression(k) for k in node.keys) and all(
            _is_constant_expression(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _is_constant_expression(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_constant_expression(node.left) and _is_constant_expression(node.right)
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        return (name in TOP_LEVEL_CALLS and all(_is_constant_expression(a) for a in node.args)
                and all(_is_constant_expression(k.value) for k in node.keywords))
    return False


def _check_top_level(tree: ast.Module) -> str:
    entries = []
    for index, stmt in enumerate(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, ast.FunctionDef):
            if stmt.name.startswith("eval_"):
                entries.append(stmt)
            continue
        if isinstance(stmt, ast.Expr) and index == 0 and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None \
                and _is_constant_expression(stmt.value):
            continue
        raise _reject("only imports, constant assignments and function definitions are allowed at top level", stmt)
    if not entries:
        raise _reject("no top-level `def eval_<name>(trace)` function")
    if len(entries) > 1:
        raise _reject(f"more than one eval_ function (also {entries[1].name!r})", entries[1])
    entry = entries[0]
    if not entry.args.args and not entry.args.posonlyargs:
        raise _reject(f"{entry.name} must take the trace as its first argument", entry)
    return entry.name


def validate_code(code: str) -> str:
    """Static validation; returns the eval function's name (the single top-level `def eval_*`); raises CodeRejected(reason, line)."""
    if not isinstance(code, str):
        raise CodeRejected("code must be a string")
    if len(code) > MAX_SOURCE_BYTES or len(code.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        raise CodeRejected(f"code is larger than {MAX_SOURCE_BYTES // 1000} KB")
    if "\x00" in code:
        raise CodeRejected("code contains a NUL character")
    try:
        tree = ast.parse(code, filename="<eval>", mode="exec")
    except SyntaxError as error:
        raise CodeRejected(f"syntax error: {error.msg}", error.lineno) from None
    except (MemoryError, RecursionError, ValueError) as error:
        raise CodeRejected(f"code cannot be parsed: {type(error).__name__}") from None
    for node, line in _walk_in_source_order(tree):
        try:
            _check_node(node)
        except CodeRejected as error:
            if error.line is None and line is not None:
                raise CodeRejected(error.reason, line) from None
            raise
    return _check_top_level(tree)
