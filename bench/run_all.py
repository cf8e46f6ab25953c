"""``make bench``: run every bench script (a ``bench/*.py`` with a top-level ``main()``), each in
its own process so one script's local stack cannot disturb the next; BENCHMARKS.md's order
first, then any others alphabetically.

    .venv/bin/python -m bench.run_all            # all
    .venv/bin/python -m bench.run_all import     # only bench/import.py
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ORDER = ("quality", "sandbox", "import", "matrix")
NOT_SCRIPTS = {"__init__", "__main__", "common", "run_all"}


def has_main(path: Path) -> bool:
    """Whether the file defines a top-level ``main`` function (read, not imported)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError:
        return True  # let the run report the error instead of skipping the script silently
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def find_scripts(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Module names (``import``, ``matrix`` ...) of the bench scripts, in run order."""
    names = [p.stem for p in bench_dir.glob("*.py") if p.stem not in NOT_SCRIPTS and has_main(p)]
    return sorted(names, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def main(argv: list[str] | None = None) -> int:
    """Run the chosen (default: all) bench scripts; non-zero when any failed."""
    wanted = list(sys.argv[1:] if argv is None else argv)
    scripts = find_scripts()
    unknown = [name for name in wanted if name not in scripts]
    if unknown:
        print(f"unknown bench script(s): {', '.join(unknown)}; available: {', '.join(scripts)}", file=sys.stderr)
        return 2
    chosen = [name for name in scripts if not wanted or name in wanted]
    outcomes: list[tuple[str, int, float]] = []
    root = BENCH_DIR.parent
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=root, check=False).returncode
        outcomes.append((name, code, time.perf_counter() - start))
    print("\n=== summary ===")
    for name, code, seconds in outcomes:
        print(f"bench.{name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {seconds:.0f}s")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
