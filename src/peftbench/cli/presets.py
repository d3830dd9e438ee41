"""Preset sweeps: `peftbench demo` (three methods, shortened, then a comparison table) and
`peftbench smoke` (every experiment of a task for a few steps, to catch broken configs). Both are
ordinary sweeps with fixed experiments and overrides; the benchmark scripts run sweeps the same way."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from peftbench.cli.common import console, err_console, require_training, user_errors
from peftbench.cli.run import TASK_FILE_HELP, declared_task
from peftbench.records.status import SUCCESS
from peftbench.system.signals import handle_stops
from peftbench.sweep.executor import ExecutorOptions

DEMO_EXPERIMENTS = ["minimath/lora/default", "minimath/ia3/default", "minimath/ln_tuning/default",
                    "minimath/base/zero-shot"]  # the untrained model: is fine-tuning worth it at all?
# On CPU the demo runs two at a time, each on half the cores: a run of this size gains little from a
# second thread, so two one-thread runs finish the four sooner (benchmarks/demo_jobs.py, docs/figures.md).
DEMO_CPU_JOBS = 2
# Shortened so three methods fit in a few minutes on a 2-core laptop; the demo's results go to their own
# folder and never mix with full-length runs.
DEMO_OVERRIDES = {"max_steps": 30, "data": {"valid_size": 8, "test_size": 50, "gsm8k_test_size": 0, "forgetting_size": 8}}

# The smallest evaluation that still exercises every phase of a run, per kind of task.
SMOKE_SIZES = {
    "text": {"data": {"valid_size": 2, "test_size": 4, "gsm8k_test_size": 2, "forgetting_size": 2,
                      "forgetting_max_tokens": 32},
             "generation_kwargs": {"max_new_tokens": 8}},
    "image": {"image": {"test_seeds": 2, "valid_seeds": 1, "drift_seeds": 1, "grid_seeds": 2, "num_inference_steps": 2}},
}


def demo(
    output_dir: Path = typer.Option(Path("demo_results"), help="Results folder of the demo runs."),
    experiments_dir: Optional[Path] = typer.Option(None, help="Where experiment folders live (default: ./experiments if it exists, else the experiments shipped with peftbench)."),
    jobs: Optional[int] = typer.Option(None, min=1, help=f"Runs at a time (as for `sweep`). Default: {DEMO_CPU_JOBS} on CPU, each on half the cores; one per GPU on GPUs."),
) -> None:
    """Run LoRA, IA3 and LN tuning on `minimath` (shortened: 30 steps, 50 test problems, no GSM8K
    problems) and the untrained base model as a sweep, then print a comparison table. Runs already in
    the folder are not repeated."""
    from peftbench.analysis.table import comparison_table
    from peftbench.cli.sweep import run_sweep
    from peftbench.planning.experiment import experiments_root, load_experiment
    from peftbench.records.results import find_results

    with user_errors():
        require_training()
        handle_stops()  # SIGTERM ends the driver as Ctrl-C does: workers stopped, records written
        found = [load_experiment(experiments_root(experiments_dir) / name) for name in DEMO_EXPERIMENTS]
    console.print(Text(f"peftbench demo: {', '.join(DEMO_EXPERIMENTS)}, shortened: {DEMO_OVERRIDES}"))
    run_sweep(found, None, output_dir, DEMO_OVERRIDES, ExecutorOptions(jobs=jobs or default_demo_jobs()))
    done = find_results(output_dir, "minimath")
    paths = [done[e.result_stem(0)] for e in found if e.result_stem(0) in done]
    if not paths:
        err_console.print("[red]no demo run succeeded[/red]")
        raise typer.Exit(1)
    console.print(comparison_table(paths, title="minimath demo (shortened runs; full-length figures: docs/figures.md)"))
    from peftbench.analysis.verdicts import short_runs_note

    console.print(Text(short_runs_note(paths), style="yellow"))


def default_demo_jobs() -> int | None:
    """`demo`'s --jobs when none is given: two runs at a time on CPU, the executor's own default on GPUs."""
    from peftbench.sweep.local import visible_gpus

    return None if visible_gpus() else DEMO_CPU_JOBS


def smoke(
    task: str = typer.Option("minimath", help="Task whose experiments to check (with --task-file: the file's task)."),
    task_file: Optional[Path] = typer.Option(None, "--task-file", help=TASK_FILE_HELP),
    experiments_dir: Optional[Path] = typer.Option(None, help="Where experiment folders live (default: ./experiments if it exists, else the experiments shipped with peftbench)."),
    max_steps: int = typer.Option(2, help="Training steps per experiment."),
) -> None:
    """Run every experiment of a task for a few steps with tiny evaluation sets, to catch broken configs.

    Results go to a temporary folder and are discarded; the exit code is non-zero if any run failed."""
    from peftbench.cli.sweep import run_sweep
    from peftbench.planning.experiment import discover, experiments_root
    from peftbench.planning.plan import task_of
    from peftbench.tasks import task_spec

    with user_errors():
        require_training()
        handle_stops()  # SIGTERM ends the driver as Ctrl-C does: workers stopped, records written
        task = declared_task(task_file) or task
        found = discover(experiments_root(experiments_dir), task)
        spec = task_of(found[0], task_file) if found else task_spec(task)
        overrides = {**known_keys(SMOKE_SIZES[spec.kind], spec.config_model), "max_steps": max_steps}
    with tempfile.TemporaryDirectory(prefix="peftbench-smoke-") as out:
        outcomes = run_sweep(found, None, Path(out), overrides, ExecutorOptions(), task_file=task_file)
    table = Table("experiment", "outcome")
    for key, outcome in sorted(outcomes.items()):
        ok = outcome.state == SUCCESS
        table.add_row(Text(key), Text("ok") if ok else Text(f"{outcome.state}: {outcome.reason}", style="red"))
    console.print(table)
    if any(o.state != SUCCESS for o in outcomes.values()):
        raise typer.Exit(1)


def known_keys(overrides: dict, model) -> dict:
    """`overrides` without the keys `model` (a task's config model) does not have: the smoke sizes are
    shared by the tasks of a kind, and some keys belong to one task only (minimath's GSM8K sample)."""
    kept = {}
    for key, value in overrides.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        section = field.annotation
        kept[key] = known_keys(value, section) if isinstance(value, dict) and hasattr(section, "model_fields") else value
    return kept
