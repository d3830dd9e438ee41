"""`peftbench sweep` and `peftbench status`; `run_sweep` is also what the presets (`demo`, `smoke`) run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from peftbench.cli.common import MODEL_HELP, console, fail, require_training, run_overrides, user_errors
from peftbench.cli.run import REPORT_TO_HELP, SAVE_ADAPTER_HELP, SET_HELP, TASK_FILE_HELP, TRACKING_DIR_HELP, declared_task
from peftbench.errors import UserError
from peftbench.system.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, handle_stops
from peftbench.sweep.executor import ExecutorKind, ExecutorOptions


# The executor's options, shared by `sweep` and `tune` (one definition, the same help in both).
EXECUTOR = typer.Option(ExecutorKind.local, help="local (processes on this machine) or ray (tasks on a Ray cluster).")
RAY_ADDRESS = typer.Option(None, help="Join this Ray cluster ('auto' or host:port); without it a private local Ray instance is started.")
RUNS_PER_GPU = typer.Option(1, min=1, help="Local executor on CUDA: runs sharing one GPU (when they fit in its memory).")
CPUS_PER_RUN = typer.Option(None, min=1, help="Ray: CPUs each run requests (default 1 with GPUs, 2 on a CPU cluster).")
GPUS_PER_RUN = typer.Option(None, min=0, help="Ray: GPUs each run requests (default 1 when the cluster has GPUs, else 0).")


def sweep(
    experiment_dirs: list[Path] = typer.Argument(None, help="Experiment folders, or roots to discover them under (default: experiments/)."),
    task: Optional[str] = typer.Option(None, help="Only experiments of this task (with --task-file: the file's task)."),
    task_file: Optional[Path] = typer.Option(None, "--task-file", help=TASK_FILE_HELP),
    methods: Optional[str] = typer.Option(None, help="Only these, comma-separated: METHOD (its 'default' experiment, or all if it has none), METHOD/NAME, or METHOD/* (e.g. lora,ia3,lora/dora)."),
    seeds: Optional[str] = typer.Option(None, help="Seeds, comma-separated (e.g. 0,1,2); default: each experiment's own seed."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Runs at a time. Local default: one per visible GPU (x --runs-per-gpu), 1 on CPU. Ray: no limit but the cluster's resources."),
    executor: ExecutorKind = EXECUTOR,
    ray_address: Optional[str] = RAY_ADDRESS,
    runs_per_gpu: int = RUNS_PER_GPU,
    cpus_per_run: Optional[int] = CPUS_PER_RUN,
    gpus_per_run: Optional[float] = GPUS_PER_RUN,
    output_dir: Path = typer.Option(Path("results"), help="Results folder (as for `peftbench run`); the sweep's state lives in its .sweep/ folder."),
    max_steps: Optional[int] = typer.Option(None, help="Override max_steps of every run (part of the config hash)."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP),
    retry_failed: bool = typer.Option(False, help="Rerun runs that failed earlier (interrupted ones always rerun)."),
    save_adapter: bool = typer.Option(False, "--save-adapter", help=SAVE_ADAPTER_HELP + " Finished runs without one run again."),
    dry_run: bool = typer.Option(False, help="Print the plan and stop."),
    report_to: list[str] = typer.Option([], "--report-to", help=REPORT_TO_HELP),
    tracking_dir: Path = typer.Option(Path("tracking"), help=TRACKING_DIR_HELP),
) -> None:
    """Run a suite: experiments x seeds, each in its own process; skips runs whose result exists with the
    same config hash, so the same command after a crash resumes where it stopped."""
    from peftbench.sweep.plan import find_experiments, parse_list
    from peftbench.telemetry.trackers import tracking_options

    with user_errors():
        require_training()
        handle_stops()  # SIGTERM ends the driver as Ctrl-C does: workers stopped, records written
        options = ExecutorOptions(executor, jobs, runs_per_gpu, ray_address, cpus_per_run, gpus_per_run,
                                  tracking_options(report_to, tracking_dir))
        task = task or declared_task(task_file)
        found = find_experiments(list(experiment_dirs or []), task, parse_list(methods, "methods"))
        overrides = run_overrides(set_, max_steps, model)
    outcomes = run_sweep(found, parse_list_or_fail(seeds), output_dir, overrides, options, retry_failed, dry_run,
                         task_file=task_file, save_adapter=save_adapter)
    from peftbench.sweep.driver import failed

    if failed(outcomes):
        raise typer.Exit(1)


def parse_list_or_fail(seeds: str | None) -> list[int] | None:
    from peftbench.sweep.plan import parse_list

    with user_errors():
        return parse_list(seeds, "seeds", int)


def run_sweep(found, seeds, output_dir: Path, overrides: dict, options: ExecutorOptions,
              retry_failed: bool = False, dry_run: bool = False, task_file: Path | None = None,
              save_adapter: bool = False) -> dict:
    """Plan (every config validated up front), print the plan, run what is due with a live status table;
    the outcomes by run key ({} when nothing ran)."""
    from peftbench.sweep.plan import plan_sweep

    from peftbench.records.results import probe_results_folder

    with user_errors(), console.status(f"validating {len(found)} experiments"):
        planned = plan_sweep(found, seeds, output_dir, overrides, retry_failed, task_file, save_adapter)
        due = not dry_run and any(p.action == "run" for p in planned)
        if due:  # before any worker loads a model: an unwritable folder is one line, not N failed runs
            probe_results_folder(output_dir)
    _print_plan(planned)
    if not due:
        return {}
    return _execute(planned, output_dir, options)


def _print_plan(planned) -> None:
    table = Table("experiment", "seed", "hash", "plan", title="plan", title_justify="left")
    for p in planned:
        action = Text("run", style="bold") if p.action == "run" else Text("skip")
        table.add_row(Text(f"{p.task}/{p.experiment}"), str(p.seed), p.config_hash, action + Text(f": {p.reason}"))
    console.print(table)
    n_run = sum(p.action == "run" for p in planned)
    console.print(f"{len(planned)} runs planned: {n_run} to run, {len(planned) - n_run} skipped")


def _execute(planned, output_dir: Path, options: ExecutorOptions) -> dict:
    from rich.live import Live

    from peftbench.sweep.driver import run_planned
    from peftbench.sweep.live import status_table, summary_line

    rows = [p.to_dict() for p in planned]
    started = time.perf_counter()
    seen: set[str] = set()
    with Live(console=console, auto_refresh=False, transient=True, redirect_stderr=False) as live:
        last_draw = [0.0]

        def on_change(outcomes, running) -> None:
            # The table reads every run's files: redraw once a second, not at every 0.1 s poll.
            fresh = outcomes.keys() - seen
            if console.is_terminal and (fresh or time.monotonic() - last_draw[0] >= 1.0):
                last_draw[0] = time.monotonic()
                live.update(status_table(rows, output_dir, outcomes)[0], refresh=True)
            for key in sorted(fresh):  # plain lines for logs and CI
                seen.add(key)
                o = outcomes[key]
                console.print(Text(f"{o.state:9} {key} ({o.seconds:.0f} s){': ' + o.reason if o.reason else ''}"))

        try:
            outcomes = run_planned(planned, output_dir, options, on_change)
        except UserError as err:
            fail(err)
        except (KeyboardInterrupt, Terminated) as stop:
            console.print(f"[yellow]{'terminated' if isinstance(stop, Terminated) else 'interrupted'}[/yellow]: "
                          "the same command resumes the sweep")
            raise typer.Exit(EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED)
    table, counts = status_table(rows, output_dir, outcomes, title="sweep")
    console.print(table)
    console.print(Text(f"{summary_line(counts)} in {time.perf_counter() - started:.0f} s; results in {output_dir}"))
    return outcomes


def status(
    output_dir: Path = typer.Option(Path("results"), help="Results folder of the sweep."),
    watch: bool = typer.Option(False, help="Keep redrawing until the sweep ends (Ctrl-C to leave)."),
) -> None:
    """Show a sweep's runs (queued / running with step, loss, ETA / success / failed) from the files on
    disk, e.g. for a sweep running in another terminal or on a cluster."""
    from rich.live import Live

    from peftbench.sweep.live import status_table, summary_line
    from peftbench.sweep.state import drivers_dir, sweep_view

    def draw():
        view = sweep_view(output_dir)
        if view is None:
            fail(f"{drivers_dir(output_dir)}: no sweep state here (expected a results folder a sweep wrote to)")
        drivers = ", ".join(f"pid {d.get('pid')} on {d.get('host')}" for d in view.drivers)
        title = Text(f"sweep {'running' if view.alive else 'not running'} (driver {drivers})")
        with user_errors():  # a state file edited by hand may name a run no result path can have
            table, counts = status_table(view.runs, output_dir, driver_alive=view.alive, title=title)
        return table, counts, view.alive

    table, counts, alive = draw()
    if watch and alive:
        with Live(table, console=console, auto_refresh=False) as live:
            try:
                while alive:
                    time.sleep(1)
                    table, counts, alive = draw()
                    live.update(table, refresh=True)
            except KeyboardInterrupt:
                pass
    else:
        console.print(table)
    console.print(summary_line(counts))
