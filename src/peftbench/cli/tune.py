"""`peftbench tune`: per method an equal-budget search on the validation split, the winners written as
`<output-dir>/tuned/<task>/<method>/tuned-<name>/` experiments and re-run on the test set with every seed (beside the untuned
defaults and the baseline rows), then the verdicts against the reference method."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from peftbench.cli.common import MODEL_HELP, console, fail, require_training, run_overrides, user_errors, warn
from peftbench.cli.sweep import CPUS_PER_RUN, EXECUTOR, GPUS_PER_RUN, RAY_ADDRESS, RUNS_PER_GPU
from peftbench.cli.run import REPORT_TO_HELP, SAVE_ADAPTER_HELP, SET_HELP, TRACKING_DIR_HELP
from peftbench.errors import UserError
from peftbench.system.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, handle_stops
from peftbench.sweep.executor import ExecutorKind, ExecutorOptions


def tune(
    experiment_dirs: list[Path] = typer.Argument(None, help="Experiment folders, or roots to discover them under (default: experiments/)."),
    task: Optional[str] = typer.Option(None, help="The task whose experiments to tune (one task per search)."),
    methods: Optional[str] = typer.Option(None, help="Methods to tune, comma-separated: METHOD (its 'default' experiment), METHOD/NAME, METHOD/*."),
    trials: int = typer.Option(8, min=1, help="Trials per method, the default (trial 0) included: the same for every method."),
    seeds: str = typer.Option("0,1,2,3,4", help="Seeds of the final test-set runs of each winner (and of the defaults and baselines)."),
    reference: str = typer.Option("lora", help="Method (or experiment) the verdicts compare against; a method means its tuned default when there is one."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Runs at a time (as for `sweep`)."),
    executor: ExecutorKind = EXECUTOR,
    ray_address: Optional[str] = RAY_ADDRESS,
    runs_per_gpu: int = RUNS_PER_GPU,
    cpus_per_run: Optional[int] = CPUS_PER_RUN,
    gpus_per_run: Optional[float] = GPUS_PER_RUN,
    batch: Optional[int] = typer.Option(None, min=1, help="Trials of each method run at once per round (default: --jobs / number of methods, at least 1). Fewer means each trial's choice sees more finished trials."),
    output_dir: Path = typer.Option(Path("results"), help="Results folder: trials land in <output-dir>/trials/, the search's state in <output-dir>/.tune/, final runs as usual."),
    max_steps: Optional[int] = typer.Option(None, help="Training steps of every trial and final run (default: the experiments' own, which must then agree)."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + " Applies to trials and final runs alike."),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP),
    final_set: list[str] = typer.Option([], "--final-set", help="Like --set, for the final test-set runs only, e.g. a larger test split (data.test_size=400) for narrower verdicts: the search never reads the test split, so its trials are unaffected."),
    search_set: list[str] = typer.Option([], "--search-set", help="Like --set, for the search's trials only, e.g. a larger validation split (data.valid_size=256) that tells candidates apart: the final runs never use it."),
    force: bool = typer.Option(False, "--force", help="Replace a tuned experiment another search (another budget, --set or space) left in --output-dir."),
    rebuild_storage: bool = typer.Option(False, "--rebuild-storage", help="Set a damaged <output-dir>/.tune/studies.db aside (kept as studies.db.broken-N) and rebuild the searches from their trial records: finished trials are read back, not rerun."),
    search_seed: int = typer.Option(0, help="Seed of the sampler (the same for every method)."),
    prune: Optional[str] = typer.Option(None, help="Stop clearly losing trials part-way: each trial looks once at --prune-at "
                                        "on --prune-items validation problems and stops if Optuna's pruner says so: "
                                        "lower-quartile (below the lower quartile of the finished trials' looks), median, "
                                        "or halving (successive halving: not in the top third of earlier looks). "
                                        "A stopped trial counts against the budget and never wins. Default: no look."),
    prune_at: Optional[int] = typer.Option(None, min=1, help="The step of the look (default: a third of the steps)."),
    prune_items: Optional[int] = typer.Option(64, min=1, help="Validation problems scored at the look (the first N; "
                                              "enough to tell a diverged run apart, cheap beside the full validation)."),
    baselines: bool = typer.Option(True, help="Also run the task's baseline rows (experiments/<task>/base/*) on the test set."),
    final: bool = typer.Option(True, help="Run the winners on the test set; --no-final stops after the search."),
    resamples: int = typer.Option(10_000, min=100, help="Bootstrap resamples of the verdicts."),
    save_adapter: bool = typer.Option(False, "--save-adapter", help=SAVE_ADAPTER_HELP + " Final test-set runs only, not trials."),
    report_to: list[str] = typer.Option([], "--report-to", help=REPORT_TO_HELP),
    tracking_dir: Path = typer.Option(Path("tracking"), help=TRACKING_DIR_HELP),
) -> None:
    """Equal-budget hyper-parameter search per method on the validation split (Optuna; learning rate on a
    log scale, plus what an experiment's search_space.json declares), resumable after a crash. Trial 0 is
    the default; a better trial replaces it only if it is better again with a second seed. Winners land in
    <output-dir>/tuned/ and re-run on the test set with every seed; verdicts against the reference,
    corrected for the number of comparisons."""
    from peftbench.planning.config import deep_merge, parse_overrides
    from peftbench.system.extras import require_extra
    from peftbench.sweep.plan import find_experiments, parse_list
    from peftbench.telemetry.trackers import tracking_options

    with user_errors():
        require_training()
        handle_stops()  # SIGTERM ends the driver as Ctrl-C does: workers stopped, records written
        require_extra("tune")
        options = ExecutorOptions(executor, jobs, runs_per_gpu, ray_address, cpus_per_run, gpus_per_run,
                                  tracking_options(report_to, tracking_dir))
        found = find_experiments(list(experiment_dirs or []), task, parse_list(methods, "methods"))
        seed_list = parse_list(seeds, "seeds", int)
        overrides = run_overrides(set_, max_steps, model)  # max_steps, when given, is the search's budget
        final_overrides = parse_overrides(final_set)
        search_overrides = parse_overrides(search_set)
        tunable = _tunable(found)
        pruning = _pruning(prune, prune_at, prune_items)
    if rebuild_storage:
        from peftbench.tune.study import set_aside_storage

        moved = set_aside_storage(output_dir)
        if moved is not None:
            console.print(Text(f"storage set aside as {moved}; rebuilding the searches from their trial records"))
    per_round = batch or max(1, (jobs or 1) // len(tunable))
    search = _search(tunable, trials, output_dir, overrides, search_seed, per_round, options, search_overrides, force,
                     pruning)
    if not final:
        return
    finals = _finals(search, tunable, found, baselines)
    from peftbench.cli.sweep import run_sweep
    from peftbench.sweep.driver import failed

    outcomes = run_sweep(finals, seed_list, output_dir, deep_merge(overrides, final_overrides), options,
                         save_adapter=save_adapter)
    console.print(Text(f"budget: {search.budget.describe()}; winners re-run with seeds {seeds}"))
    _print_verdicts(output_dir, tunable[0].task, reference, resamples)
    if failed(outcomes):
        raise typer.Exit(1)


def _tunable(found):
    """The experiments a search can change: not the baselines (nothing trains) nor earlier winners."""
    tunable = [e for e in found if not e.name.startswith("tuned-") and not e.is_baseline]
    if not tunable:
        raise UserError("nothing to tune: every selected experiment is a baseline or an earlier search's winner")
    tasks = sorted({e.task for e in tunable})
    if len(tasks) > 1:
        raise UserError(f"--task: one task per search (the budget is per task); found {', '.join(tasks)}")
    return tunable


def _pruning(name: str | None, at: int | None, items: int | None):
    """The search's look part-way (tune/prune.py), or None without --prune."""
    from peftbench.tune.prune import PRUNERS, Pruning

    if name is None:
        if at is not None:
            raise UserError("--prune-at: give --prune too (which pruner decides at the look)")
        return None
    if name not in PRUNERS:
        raise UserError(f"--prune {name!r}: expected one of {', '.join(PRUNERS)}")
    return Pruning(name, at, items)


def _search(tunable, trials, output_dir, overrides, seed, per_round, options, search_overrides, force, pruning=None):
    from peftbench.sweep.driver import run_planned
    from peftbench.tune import search as search_mod
    from peftbench.tune.trials import describe_params
    from peftbench.tune.winner import check_owner

    with user_errors(), console.status(f"validating {len(tunable)} searches"):
        search = search_mod.prepare(tunable, trials, output_dir, overrides, seed, per_round, search_overrides, pruning)
    try:
        with user_errors():  # before any trial: a folder this search may not write is refused now, not after hours
            for method in search.methods:
                check_owner(search, method, force)
        console.print(Text(f"budget: {search.budget.describe()}", style="bold"))
        for method in search.methods:
            done = len(search_mod.counted(method, trials))
            console.print(Text(f"  {method.experiment.full_name}: {method.space.describe()} [{method.space.origin}]; "
                               f"default {describe_params(method.default)}"))
            console.print(Text(f"    study {method.name}: {done} of {trials} trials done"))

        def on_trial(method, row) -> None:
            value = f"{row.value:.3g}" if row.value is not None else row.state
            console.print(Text(f"trial {method.experiment.full_name} #{row.number} ({describe_params(row.params)}): "
                               f"{search.budget.objective} {value}{' - ' + row.reason if row.reason else ''}"))

        runner = lambda planned, out: run_planned(planned, out, options)  # noqa: E731
        try:
            search_mod.run(search, runner, on_trial)
            decisions = search_mod.confirm(search, runner)
        except (search_mod.SearchInterrupted, UserError) as err:
            fail(str(err))
        except (KeyboardInterrupt, Terminated) as stop:
            console.print(f"[yellow]{'terminated' if isinstance(stop, Terminated) else 'interrupted'}[/yellow]: "
                          "the same command resumes the search")
            raise typer.Exit(EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED)
        _write_winners(search, decisions, overrides, force)
    finally:
        search.release()
    return search


def _write_winners(search, decisions: dict, overrides: dict, force: bool) -> None:
    from peftbench.tune.search import baked_overrides, counted
    from peftbench.tune.study import score_of
    from peftbench.tune.trials import describe_params
    from peftbench.tune.winner import write_tuned

    baked = baked_overrides(search, overrides)
    for method in search.methods:
        decision = decisions[method.name]
        table = Table("trial", "values", search.budget.objective, "state",
                      title=f"{method.experiment.full_name}: {search.budget.trials} trials", title_justify="left")
        chosen = decision.chosen
        for t in counted(method, search.budget.trials):
            mark = " (default)" if t.number == 0 else ""
            mark += " (stands)" if chosen is not None and t.number == chosen.number else ""
            score = score_of(t)
            table.add_row(str(t.number), Text(describe_params(t.params)),
                          f"{score:.3g}" if score is not None else "", t.state.name.lower() + mark)
        console.print(table)
        if chosen is None:
            warn(f"{method.experiment.full_name}: no trial completed; no tuned experiment written")
            continue
        with user_errors():
            folder = write_tuned(search, method, decision, baked, force)
        console.print(Text(f"  {decision.describe(search.budget.objective)}\n  -> {folder}"))


def _finals(search, tunable, found, baselines: bool):
    """Each searched experiment and its winner (unless the search kept the default: then the default's
    runs are the tuned configuration's), plus the task's baseline rows."""
    from peftbench.planning.experiment import discover, load_experiment
    from peftbench.tune.winner import tuned_folder

    finals = []
    for exp in tunable:
        finals.append(exp)
        folder = tuned_folder(search.results, exp)
        if folder.is_dir():
            tuned = load_experiment(folder)
            if not (tuned.tuned or {}).get("kept_default"):
                finals.append(tuned)
    if baselines:
        roots = {exp.path.parents[2] for exp in tunable}
        pool = [e for root in roots for e in discover(root, tunable[0].task)]
        finals += [e for e in pool if e.is_baseline and e not in finals]
    return finals


def _print_verdicts(output_dir: Path, task: str, reference: str, resamples: int) -> None:
    from peftbench.analysis import report as report_mod
    from peftbench.analysis.load import load_runs

    try:
        runs = load_runs([output_dir], task=task, warn=warn)
        reports = report_mod.build(runs, reference, n_resamples=resamples)
    except UserError as err:
        warn(f"no verdicts: {err}")
        return
    for renderable in report_mod.rich_tables(reports):
        console.print(renderable)
