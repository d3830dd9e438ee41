"""Write the README's table of full-length minimath runs from the committed records in
published/minimath-defaults/ (`peftbench report --format markdown` on them, with the set-up the records
name), between the README's markers. `--check` only says whether the README is up to date (exit 1 if
not); tests/test_readme_results.py runs that. The records come from
`python benchmarks/methods.py --task minimath --into published/minimath-defaults [EXPERIMENT...]`.

    python scripts/readme_results.py [--check]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from marked_block import write_or_check

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RECORDS = Path("published") / "minimath-defaults"
START, END = "<!-- minimath-results:start -->", "<!-- minimath-results:end -->"


def _records() -> list[dict]:
    folder = ROOT / RECORDS / "minimath"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _setup(records: list[dict]) -> str:
    dates = sorted(r["run_info"]["created_at"][:10] for r in records)
    systems = sorted({f"{r['meta_info']['system_info']['accelerator']}, {r['meta_info']['system_info']['cpu_count']} cores, "
                      f"{r['meta_info']['system_info']['torch_num_threads']} torch thread(s)" for r in records})
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    return (f"{len(records)} full-length runs (60 steps of batch 4, 100 minimath test problems, 50 GSM8K, one seed "
            f"each), run {span} on {'; '.join(systems)}, one at a time beside other work on the same machine (times "
            "are indicative). Regenerate with `python scripts/readme_results.py` (it runs "
            f"`peftbench report --results {RECORDS.as_posix()} --task minimath --format markdown`).")


def _pending(records: list[dict]) -> str:
    from peftbench.experiment import discover

    done = {r["run_info"]["experiment_name"] for r in records}
    left = [e.full_name for e in discover(ROOT / "experiments", "minimath") if e.full_name not in done]
    return f"\nNot run yet ({len(left)}): {', '.join(f'`{n}`' for n in left)}.\n" if left else ""


def render() -> str:
    records = _records()
    if not records:
        return "No full-length runs recorded yet.\n"
    table = subprocess.run([sys.executable, "-m", "peftbench", "report", "--results", str(RECORDS), "--task", "minimath",
                            "--format", "markdown"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    table = table.replace("### Task minimath\n\n", "", 1)
    return f"{_setup(records)}\n\n{table.rstrip()}\n{_pending(records)}"


def main(argv: list[str]) -> int:
    return write_or_check(README, START, END, render(), argv, "scripts/readme_results.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
