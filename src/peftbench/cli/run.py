"""`peftbench run`, `peftbench list`, `peftbench params`: one experiment, what exists, what can be set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from peftbench.cli.common import MODEL_HELP, console, err_console, require_training, run_overrides, user_errors

REPORT_TO_HELP = ("Also log training windows and the final figures to a tracker: tensorboard, mlflow, wandb or "
                  "trackio (each configured as its users expect, e.g. MLFLOW_TRACKING_URI, WANDB_MODE); repeat for several.")
TRACKING_DIR_HELP = "Folder for the local trackers' files (TensorBoard event files, MLflow's file store, W&B runs)."
SET_HELP = ("Override a training parameter: KEY=VALUE, dotted keys for nested ones, VALUE parsed as JSON "
            "(e.g. --set optimizer_kwargs.lr=5e-4 --set data.test_size=50); `peftbench params` lists them.")
SAVE_ADAPTER_HELP = ("Keep the trained adapter (full fine-tuning: the model) in PEFT format with a model card "
                     "beside the result: results/<task>/<stem>.adapter/.")
TASK_FILE_HELP = ("A task declared in YAML (docs/tasks-from-files.md); its name must be the experiments' task "
                  "folder. Not needed when it lies at experiments/<task>/task.yaml.")


def declared_task(task_file: Path | None) -> str | None:
    """The task a --task-file declares (registered now, its data checked), or None without one."""
    if task_file is None:
        return None
    from peftbench.tasks.from_file import register_task_file

    return register_task_file(task_file).name


def run(
    experiment_dir: Path = typer.Argument(..., help="Experiment folder: experiments/<task>/<method>/<name>/"),
    output_dir: Path = typer.Option(Path("results"), help="Results folder; failed or interrupted runs go to cancelled_<name> beside it."),
    max_steps: Optional[int] = typer.Option(None, help="Override max_steps (e.g. 2 for a smoke test)."),
    seed: Optional[int] = typer.Option(None, help="Override the seed; results of seeds other than 0 get a --seed<k> suffix."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP),
    task: Optional[str] = typer.Option(None, help="The task of an experiment in the reference suite's layout "
                                       "(<suite>/experiments/<method>/<name>/), e.g. minimath to run it offline; "
                                       "default: the task its suite folder names."),
    task_file: Optional[Path] = typer.Option(None, "--task-file", help=TASK_FILE_HELP),
    save_adapter: bool = typer.Option(False, "--save-adapter", help=SAVE_ADAPTER_HELP),
    quiet: bool = typer.Option(False, help="No progress bars."),
    report_to: list[str] = typer.Option([], "--report-to", help=REPORT_TO_HELP),
    tracking_dir: Path = typer.Option(Path("tracking"), help=TRACKING_DIR_HELP),
) -> None:
    """Train and evaluate one experiment; write its result record and predictions."""
    from peftbench.planning.plan import plan_run
    from peftbench.telemetry.progress import Reporter
    from peftbench.records.status import CANCELLED, SUCCESS
    from peftbench.records.results import probe_results_folder
    from peftbench.system.signals import Terminated, exit_code, handle_stops
    from peftbench.telemetry.trackers import tracking_options

    handle_stops()
    try:
        with user_errors():
            require_training()
            plan = plan_run(experiment_dir, overrides=run_overrides(set_, max_steps, model, seed),
                            task_file=task_file, save_adapter=save_adapter, task=task)
            trackers = tracking_options(report_to, tracking_dir).make()
            probe_results_folder(output_dir)  # an unwritable folder is found now, not after training
            from peftbench.pipeline import execute  # torch and the model stack: only once the plan is valid

            console.print(Text.assemble((plan.experiment.full_name, "bold"), f" on {plan.task} (seed {plan.seed}, "
                                        f"{plan.cfg.max_steps} steps, hash {plan.config_hash})"))
            outcome = execute(plan, output_dir, Reporter(enabled=not quiet), trackers)
    except (KeyboardInterrupt, Terminated) as err:  # stopped before the run began: nothing to record
        raise typer.Exit(exit_code(CANCELLED, err)) from None
    if outcome.status != SUCCESS:
        err_console.print(Text(f"{outcome.status}: ", style="red") +
                          Text(f"{outcome.record.run_info.error_msg} -> {outcome.path}"))
        raise typer.Exit(exit_code(outcome.status, outcome.error))
    from peftbench.analysis.table import comparison_table

    console.print(comparison_table([outcome.path]))
    console.print(Text(f"result: {outcome.path}"))
    if plan.save_adapter:
        from peftbench.adapters.saved import adapter_dir

        console.print(Text(f"adapter: {adapter_dir(outcome.path)}"))


def list_experiments(
    task: Optional[str] = typer.Option(None, help="Only this task."),
    experiments_dir: Optional[Path] = typer.Option(None, help="Where experiment folders live (default: ./experiments if it exists, else the experiments shipped with peftbench)."),
    results_dir: Path = typer.Option(Path("results"), help="Results folder to check for existing results."),
) -> None:
    """List experiments and whether each has a result."""
    from peftbench.planning.experiment import discover, experiments_root
    from peftbench.records.results import find_results

    with user_errors():
        found = discover(experiments_root(experiments_dir), task)
    done = find_results(results_dir)  # keys "<task>/<stem>"; one scan for all experiments
    table = Table("task", "experiment", "peft type", "result")
    for exp in found:
        kind = (exp.peft_config or {}).get("peft_type", "full fine-tuning")
        has_result = f"{exp.task}/{exp.result_stem(0)}" in done
        table.add_row(Text(exp.task), Text(exp.full_name), Text(str(kind)), "yes" if has_result else "")
    console.print(table)


def params(
    task: str = typer.Option("minimath", help="Task whose parameters to list (`peftbench params --task minigen`)."),
    task_file: Optional[Path] = typer.Option(None, "--task-file", help="A task file: list its parameters and defaults."),
) -> None:
    """Every training parameter of a task — what training_params.json and --set accept — with its
    default for this task and what it means."""
    from peftbench.planning.config import describe_fields
    from peftbench.tasks import task_spec

    with user_errors():
        task = declared_task(task_file) or task
        spec = task_spec(task)
        fields = describe_fields(spec.config_model, spec.defaults)
    table = Table("key", "type", f"default ({task})", "meaning", title=f"{task}: {spec.summary}",
                  title_justify="left")
    for field in fields:
        table.add_row(Text(field.key), Text(field.type), Text(field.default), Text(field.description))
    console.print(table)
