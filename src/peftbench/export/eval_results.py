"""A run's scores as Hugging Face Hub `.eval_results/*.yaml` files.

The format (hub-docs `eval_results.yaml`, docs/hub/eval-results.md): a model repo holds YAML files
under `.eval_results/`, each a list of entries `{dataset: {id, task_id[, revision]}, value[, date]
[, source: {url[, name, user, org]}][, notes]}`. `dataset.id` must be a Hub *benchmark* dataset and
`task_id` a task its `eval.yaml` defines, which no record can tell: the user maps each test set to
one (`--benchmark SET=OWNER/DATASET[:TASK_ID]`) and unmapped test sets are not written. One file per
benchmark and run, ready to upload into the repo of that run's adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from peftbench.errors import UserError
from peftbench.export.runs import ExportRun, Score

HUB_DATASET_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DEFAULT_TASK_ID = "default"  # the spec's example id for a benchmark with a single task


@dataclass(frozen=True)
class Benchmark:
    dataset_id: str
    task_id: str
    revision: str | None = None


def parse_benchmarks(specs: list[str]) -> dict[str, Benchmark]:
    """`SET=OWNER/DATASET[:TASK_ID][@REVISION]` options -> {test set: benchmark}; UserError naming a bad one."""
    found = {}
    for spec in specs:
        test_set, eq, target = spec.partition("=")
        target, _, revision = target.partition("@")
        dataset_id, _, task_id = target.partition(":")
        if not eq or not test_set or not HUB_DATASET_ID.match(dataset_id):
            raise UserError(f"--benchmark {spec!r}: expected TEST_SET=OWNER/DATASET[:TASK_ID][@REVISION], "
                            "e.g. gsm8k=openai/gsm8k:main")
        found[test_set] = Benchmark(dataset_id, task_id or DEFAULT_TASK_ID, revision or None)
    return found


def _notes(run: ExportRun, score: Score) -> str:
    items = f", {score.n} items" if score.n else ""
    seed = f", seed {run.seed}" if run.seed is not None else ""
    return f"peftbench {run.experiment} ({run.method}) on {run.model_id}: test {score.metric}{items}{seed}"


def entry(run: ExportRun, score: Score, benchmark: Benchmark) -> dict:
    """One `.eval_results` entry: required keys, then the optional ones the record supports."""
    dataset = {"id": benchmark.dataset_id, "task_id": benchmark.task_id}
    if benchmark.revision:
        dataset["revision"] = benchmark.revision
    out: dict = {"dataset": dataset, "value": score.value}
    if run.created_at is not None:
        out["date"] = run.created_at.isoformat()
    out["notes"] = _notes(run, score)
    return out


def files_of(run: ExportRun, benchmarks: dict[str, Benchmark]) -> dict[Path, list[dict]]:
    """{path relative to the export folder: entries} for the run's mapped test sets."""
    folder = Path(run.task) / ("" if run.source == "peftbench" else run.source) / run.stem / ".eval_results"
    files = {}
    for score in run.scores:
        benchmark = benchmarks.get(score.test_set)
        if benchmark is not None:
            name = re.sub(r"[^\w.-]+", "_", f"{benchmark.dataset_id}_{benchmark.task_id}")
            files[folder / f"{name}.yaml"] = [entry(run, score, benchmark)]
    return files
