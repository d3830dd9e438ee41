"""`peftbench export`: results in lm-evaluation-harness, Hub `.eval_results` or CSV form (no torch)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.text import Text

from peftbench.cli.common import console, user_errors, warn


class ExportFormat(str, Enum):
    lm_eval = "lm-eval"
    eval_results = "eval-results"
    csv = "csv"


def export(
    format: ExportFormat = typer.Option(..., "--format", help="lm-eval: results_<date>.json per run (lm-evaluation-harness); eval-results: .eval_results/*.yaml per run (Hugging Face Hub); csv: runs.csv, one row per run."),
    results: list[Path] = typer.Option([Path("results")], "--results", help="Results folder or file, searched recursively; repeat to combine several."),
    out: Path = typer.Option(Path("export"), "--out", "--output-dir", help="Folder to write into: <task>/<run>/... per run, or runs.csv."),
    benchmark: list[str] = typer.Option([], "--benchmark", help="eval-results only: TEST_SET=OWNER/DATASET[:TASK_ID][@REVISION], the Hub benchmark a test set is published under (e.g. gsm8k=openai/gsm8k:main); repeat per test set."),
) -> None:
    """Write results in formats other tools read: lm-eval results JSON, Hub eval results, CSV."""
    from peftbench.export import export as run_export

    with user_errors():
        done = run_export(results, format.value, out, warn=warn, benchmarks=benchmark)
    for line in done.skipped:
        warn(f"not exported: {line}")
    others = f", {done.passed_over} failed or cancelled runs left out" if done.passed_over else ""
    console.print(Text(f"wrote {len(done.written)} files to {out}{others}"))
