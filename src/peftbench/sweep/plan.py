"""What a sweep runs: experiments × seeds, minus what is already done with the same config.

A run is skipped when its result exists with the same config hash; a changed config, an interrupted
run (record says `cancelled`, or no record at all) or, with --retry-failed, a failed one runs again.
Every config is validated here, before anything starts, so a typo fails the sweep in a second rather
than an hour in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peftbench.errors import UserError
from peftbench.planning.experiment import (REFERENCE_DEFAULTS, Experiment, discover, experiments_root, is_experiment_dir,
                                  load_experiment, reference_suite)
from peftbench.planning.plan import RunPlan, plan_run
from peftbench.records.record import read_record_or_none
from peftbench.records.status import FAILED, SUCCESS
from peftbench.records.results import result_path
from peftbench.adapters.saved import RECORD_FILE, adapter_dir


@dataclass(frozen=True)
class SweepEntry:
    """One entry of a sweep: a run's `RunPlan` with what the sweep does about it, `run` or `skip` (and why)."""

    plan: RunPlan
    action: str  # "run" | "skip"
    reason: str

    task = property(lambda self: self.plan.task)
    stem = property(lambda self: self.plan.stem)
    seed = property(lambda self: self.plan.seed)
    config_hash = property(lambda self: self.plan.config_hash)
    experiment = property(lambda self: self.plan.experiment.full_name)

    @property
    def key(self) -> str:
        return f"{self.task}/{self.stem}"

    def to_dict(self) -> dict:
        """The row kept in the sweep's state file, which `peftbench status` reads from any process."""
        return {"task": self.task, "experiment": self.experiment, "seed": self.seed, "stem": self.stem,
                "config_hash": self.config_hash, "action": self.action, "reason": self.reason, "key": self.key,
                "path": str(self.plan.experiment.path)}


def existing_hash(path: Path) -> str | None:
    record = read_record_or_none(path)
    return record.run_info.config_hash if record else None


def parse_list(text: str | None, what: str, cast=str) -> list | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        values = [cast(item) for item in items]
    except ValueError:
        raise UserError(f"--{what}: expected a comma-separated list of {cast.__name__}s, got '{text}'") from None
    if not values:
        raise UserError(f"--{what}: empty list")
    return values


def find_experiments(dirs: list[Path], task: str | None, methods: list[str] | None) -> list[Experiment]:
    """Experiment folders given directly, or discovered under experiment roots (default experiments/)."""
    found: list[Experiment] = []
    for folder in dirs or [experiments_root()]:
        if is_experiment_dir(folder):  # a broken symlinked config counts: loading it says so
            found.append(load_experiment(folder, task if reference_suite(folder) else None))
        elif (Path(folder) / ".." / REFERENCE_DEFAULTS).resolve().is_file() and Path(folder).name == "experiments":
            # the reference suite's experiments folder: <method>/<name> below it, task from --task or the suite
            found.extend(load_experiment(d, task) for d in sorted(Path(folder).glob("*/*"))
                         if d.is_dir() and is_experiment_dir(d))
        else:
            found.extend(discover(folder, task))
    if task:
        found = [e for e in found if e.task == task]
    if methods:
        found = [e for e in found if any(_selects(item, e, found) for item in methods)]
        unknown = [m for m in methods if not any(_selects(m, e, found) for e in found)]
        if unknown:
            raise UserError(f"--methods: no experiments for {', '.join(unknown)} "
                            "(expected METHOD, METHOD/NAME or METHOD/*; `peftbench list` shows them)")
    if not found:
        raise UserError("no experiments to run (check the folders, --task and --methods)")
    return found


def _selects(item: str, exp: Experiment, pool: list[Experiment]) -> bool:
    """`lora` = the method's `default` experiment (all of them if it has none), `lora/dora` = that
    one, `lora/*` = every experiment of the method. A method means its default configuration, as in
    a leaderboard; variants such as DoRA or rsLoRA are named explicitly."""
    method, _, name = item.partition("/")
    if exp.method != method:
        return False
    if name:
        return name in ("*", exp.name)
    has_default = any(e.method == method and e.name == "default" and e.task == exp.task for e in pool)
    return exp.name == "default" or not has_default


def adapter_kept(result: Path, digest: str) -> bool:
    """Whether `--save-adapter` kept this config's adapter beside `result` (its copy of the record says)."""
    kept = read_record_or_none(adapter_dir(result) / RECORD_FILE)
    return kept is not None and kept.run_info.config_hash == digest


def decide(output_dir: Path, task: str, stem: str, digest: str, retry_failed: bool,
           save_adapter: bool = False) -> tuple[str, str]:
    path = result_path(output_dir, task, stem, SUCCESS)
    done = read_record_or_none(path)
    if done is not None:
        old = done.run_info.config_hash
        if old != digest:
            return "run", f"config changed (result has {old})"
        if save_adapter and not adapter_kept(path, digest):
            return "run", "done, but its adapter was not kept"
        return "skip", "done"
    other = read_record_or_none(result_path(output_dir, task, stem, FAILED))
    if other is None:
        return "run", "new"
    if other.run_info.config_hash != digest:
        return "run", "config changed since it stopped"
    if other.status == FAILED and not retry_failed:
        return "skip", "failed earlier (--retry-failed reruns it)"
    return "run", "retry failed" if other.status == FAILED else "interrupted earlier"


def plan_sweep(experiments: list[Experiment], seeds: list[int] | None, output_dir: Path,
               overrides: dict | None = None, retry_failed: bool = False,
               task_file: Path | None = None, save_adapter: bool = False) -> list[SweepEntry]:
    """Every experiment x seed, validated (no model loads, no torch), with what to do about it.
    `task_file` declares the experiments' task (`--task-file`); `save_adapter` keeps every run's adapter,
    and makes a run due again when its result exists without one."""
    planned = []
    for exp in experiments:
        for seed in seeds or [None]:
            plan = plan_run(exp.path, seed=seed, overrides=overrides, task_file=task_file, save_adapter=save_adapter,
                            task=exp.task)
            action, reason = decide(output_dir, exp.task, plan.stem, plan.config_hash, retry_failed, save_adapter)
            planned.append(SweepEntry(plan, action, reason))
    return planned
