"""`peftbench sweep` and `peftbench status`."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional

import typer

EXECUTORS = ("local", "ray")


def sweep(
    experiment_dirs: list[Path] = typer.Argument(None, help="Experiment folders, or roots to discover them under (default: experiments/)."),
    task: Optional[str] = typer.Option(None, help="Only experiments of this task."),
    methods: Optional[str] = typer.Option(None, help="Only these, comma-separated: METHOD (its 'default' experiment, or all if it has none), METHOD/NAME, or METHOD/* (e.g. lora,ia3,lora/dora)."),
    seeds: Optional[str] = typer.Option(None, help="Seeds, comma-separated (e.g. 0,1,2); default: each experiment's own seed."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Runs at a time. Local default: one per visible GPU (x --runs-per-gpu), 1 on CPU. Ray: no limit but the cluster's resources."),
    executor: str = typer.Option("local", help="local (processes on this machine) or ray (tasks on a Ray cluster)."),
    ray_address: Optional[str] = typer.Option(None, help="Join this Ray cluster ('auto' or host:port); without it a private local Ray instance is started."),
    runs_per_gpu: int = typer.Option(1, min=1, help="Local executor on CUDA: runs sharing one GPU (when they fit in its memory)."),
    cpus_per_run: Optional[int] = typer.Option(None, min=1, help="Ray: CPUs each run requests (default 1 with GPUs, 2 on a CPU cluster)."),
    gpus_per_run: Optional[float] = typer.Option(None, min=0, help="Ray: GPUs each run requests (default 1 when the cluster has GPUs, else 0)."),
    output_dir: Path = typer.Option(Path("results"), help="Results folder (as for `peftbench run`); the sweep's state lives in its .sweep/ folder."),
    max_steps: Optional[int] = typer.Option(None, help="Override max_steps of every run (part of the config hash)."),
    set_: list[str] = typer.Option([], "--set", help="Override a training parameter of every run: KEY=VALUE, as for `peftbench run`."),
    retry_failed: bool = typer.Option(False, help="Rerun runs that failed earlier (interrupted ones always rerun)."),
    dry_run: bool = typer.Option(False, help="Print the plan and stop."),
) -> None:
    """Run a suite: experiments x seeds, each in its own process; skips runs whose result exists with the
    same config hash, so the same command after a crash resumes where it stopped."""
    from peftbench.cli import _fail, console

    from peftbench.config import parse_overrides
    from peftbench.errors import UserError
    from peftbench.sweep.plan import find_experiments, parse_list, plan_sweep

    try:
        if executor not in EXECUTORS:
            raise UserError(f"--executor: expected one of {', '.join(EXECUTORS)}, got '{executor}'")
        if ray_address and executor != "ray":
            raise UserError("--ray-address needs --executor ray")
        found = find_experiments(list(experiment_dirs or []), task, parse_list(methods, "methods"))
        with console.status(f"validating {len(found)} experiments"):
            planned = plan_sweep(found, parse_list(seeds, "seeds", int), output_dir, max_steps,
                                 parse_overrides(set_), retry_failed)
    except UserError as err:
        _fail(err)
    _print_plan(console, planned)
    todo = [p for p in planned if p.action == "run"]
    if dry_run or not todo:
        return
    outcomes = _execute(console, planned, todo, output_dir, executor, jobs, runs_per_gpu, ray_address,
                        cpus_per_run, gpus_per_run, max_steps, set_)
    bad = [o for o in outcomes.values() if o.state in ("failed", "cancelled")]
    if bad:
        raise typer.Exit(1)


def _print_plan(console, planned) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("experiment", "seed", "hash", "plan", title="plan", title_justify="left")
    for p in planned:
        table.add_row(escape(f"{p.task}/{p.experiment}"), str(p.seed), p.config_hash,
                      f"{'[bold]run[/bold]' if p.action == 'run' else 'skip'}: {escape(p.reason)}")
    console.print(table)
    n_run = sum(p.action == "run" for p in planned)
    console.print(f"{len(planned)} runs planned: {n_run} to run, {len(planned) - n_run} skipped")


def _execute(console, planned, todo, output_dir, executor, jobs, runs_per_gpu, ray_address,
             cpus_per_run, gpus_per_run, max_steps, sets) -> dict:
    from rich.live import Live

    from peftbench.cli import _fail
    from peftbench.errors import UserError
    from peftbench.sweep.live import status_table, summary_line
    from peftbench.sweep.state import plan_file, write_state

    rows = [p.to_dict() for p in planned]
    state = {"command": sys.argv, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
             "executor": executor, "runs": rows, "finished": None}
    write_state(plan_file(output_dir), state)
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
            for key in sorted(outcomes.keys() - seen):  # plain lines for logs and CI
                seen.add(key)
                o = outcomes[key]
                console.print(f"{o.state:9} {key} ({o.seconds:.0f} s){': ' + o.reason if o.reason else ''}",
                              highlight=False, markup=False)

        try:
            outcomes = _dispatch(planned, todo, output_dir, executor, jobs, runs_per_gpu, ray_address,
                                 cpus_per_run, gpus_per_run, max_steps, sets, on_change)
        except UserError as err:
            _fail(err)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]: the same command resumes the sweep")
            raise typer.Exit(130)
        finally:
            write_state(plan_file(output_dir), {**state, "finished": time.time()})
    table, counts = status_table(rows, output_dir, outcomes, title="sweep")
    console.print(table)
    console.print(f"{summary_line(counts)} in {time.perf_counter() - started:.0f} s; results in {output_dir}", markup=False)
    return outcomes


def _dispatch(planned, todo, output_dir, executor, jobs, runs_per_gpu, ray_address, cpus_per_run,
              gpus_per_run, max_steps, sets, on_change) -> dict:
    if executor == "ray":
        from peftbench.sweep.ray_exec import run_ray

        return run_ray(todo, output_dir, max_steps, sets, on_change, ray_address, jobs, cpus_per_run, gpus_per_run)
    from peftbench.sweep.local import make_slots, run_local

    return run_local(todo, output_dir, make_slots(jobs, runs_per_gpu), max_steps, sets, on_change)


def status(
    output_dir: Path = typer.Option(Path("results"), help="Results folder of the sweep."),
    watch: bool = typer.Option(False, help="Keep redrawing until the sweep ends (Ctrl-C to leave)."),
) -> None:
    """Show a sweep's runs (queued / running with step, loss, ETA / done / failed) from the files on
    disk, e.g. for a sweep running in another terminal or on a cluster."""
    from rich.live import Live
    from rich.markup import escape

    from peftbench.cli import _fail, console
    from peftbench.errors import UserError
    from peftbench.sweep.live import status_table, summary_line
    from peftbench.sweep.state import pid_alive, plan_file, read_state

    def draw():
        state = read_state(plan_file(output_dir))
        if state is None:
            _fail(UserError(f"{plan_file(output_dir)}: no sweep state here (expected a folder a sweep wrote to)"))
        alive = state.get("finished") is None and pid_alive(state.get("pid"), state.get("host")) is not False
        table, counts = status_table(state["runs"], output_dir, driver_alive=alive,
                                     title=escape(f"sweep {'running' if alive else 'not running'} (driver pid {state.get('pid')} on {state.get('host')})"))
        return table, counts, alive

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
