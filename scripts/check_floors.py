"""Are the version floors in pyproject.toml true? Install the lowest allowed versions and run the tests.

Builds a fresh virtualenv, installs peftbench (the reader: no extras unless --extras) with every
`>=` floor of its dependencies pinned to exactly that version (`pip --constraint`), wheels only, and
runs the reader-side unit tests in it. Exit status: pytest's (or pip's when the floors cannot even
be installed together). Prints what it installed and how long each phase took.

    python scripts/check_floors.py                        # reader floors, throwaway venv
    python scripts/check_floors.py --venv /tmp/floors     # keep the venv for a look afterwards
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Tests of the reader side (no torch): loading, statistics, Pareto, filters, report, import, export,
# dashboard tables, result files. Their torch-free status is itself tested (sys.modules checks).
READER_TESTS = ["test_analysis_load.py", "test_stats.py", "test_pareto.py", "test_filters.py", "test_report.py",
                "test_import.py", "test_export.py", "test_results.py", "test_table.py"]
# Tests that need an extra on top of the reader.
EXTRA_TESTS = {"dashboard": ["test_dashboard_view.py"]}
TEST_TOOLS = ["pytest", "hypothesis"]
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def floors(requirements: list[str]) -> dict[str, str]:
    """{name: lowest allowed version} of every requirement with a `>=` bound."""
    found = {}
    for req in requirements:
        match = FLOOR.match(req)
        if match and not match.group(1).startswith("peftbench"):
            found[match.group(1)] = match.group(3)
    return found


def requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    todo = list(extras)
    while todo:  # extras may name others: peftbench[train]
        for req in optional[todo.pop()]:
            nested = re.match(r"peftbench\[([^\]]+)\]", req)
            if nested:
                todo += nested.group(1).split(",")
            else:
                reqs.append(req)
    return reqs


def step(label: str, args: list[str], **kwargs) -> float:
    start = time.perf_counter()
    print(f"$ {' '.join(args)}", flush=True)
    # The checkout's src/ must not shadow the installed package (a developer's PYTHONPATH would).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = subprocess.run(args, env=env, **kwargs).returncode
    took = time.perf_counter() - start
    print(f"{label}: {took:.0f} s (exit {code})", flush=True)
    if code:
        sys.exit(code)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="where to build the venv (default: a temporary folder)")
    parser.add_argument("--extras", default="", help="comma-separated extras whose floors to pin too (pip refuses "
                        "when an extra's own dependencies need a core package above its floor)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to build the venv from")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -x)")
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    pins = floors(requirements(extras))
    with tempfile.TemporaryDirectory(prefix="peftbench-floors-") as tmp:
        venv = args.venv or Path(tmp) / "venv"
        constraints = Path(tmp) / "floors.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
        print(f"python {subprocess.check_output([args.python, '-V'], text=True).split()[1]}; floors: "
              + ", ".join(f"{n}=={v}" for n, v in sorted(pins.items())), flush=True)
        total = step("create venv", [args.python, "-m", "venv", "--clear", str(venv)])
        py = str(venv / "bin" / "python")
        target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
        total += step("pip install (lowest versions)", [py, "-m", "pip", "install", "-q", "--only-binary", ":all:",
                                                         "-c", str(constraints), target, *TEST_TOOLS])
        subprocess.run([py, "-m", "pip", "list", "--format", "freeze"], check=True)
        names = READER_TESTS + [t for extra in extras for t in EXTRA_TESTS.get(extra, [])]
        tests = [str(ROOT / "tests" / name) for name in names]
        # -p no:cacheprovider: the read-only check leaves nothing in the checkout.
        total += step("reader tests", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, *args.pytest_args],
                      cwd=tmp)
        print(f"total {total:.0f} s", flush=True)


if __name__ == "__main__":
    main()
