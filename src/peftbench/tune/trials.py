"""A trial as an experiment folder, so it runs like any experiment: planned into a `RunPlan`, sent to a
worker by any executor, its result written by the run itself into the trials folder.

A trial folder holds the searched experiment's adapter config and training parameters with the
trial's values applied, and `tune_trial.json` (the study, the trial's number and values), which the
run copies into its record as `run_info.trial`: readers know a trial when they see one. Trials run
with `evaluate_test: false`, so a trial never reads the test set, and validate once, at their last step
(with `--prune`, also a look part-way on a few validation problems: `tune/prune.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

from peftbench.planning.experiment import ADAPTER_FILE, PARAMS_FILE, TRIAL_FILE, Experiment
from peftbench.records.record import ResultRecord, read_record_or_none
from peftbench.records.status import FAILED, INTERRUPTED, SUCCESS
from peftbench.records.results import atomic_write_json, cancelled_dir, result_path
from peftbench.tune import space as space_mod
from peftbench.tune.study import tune_dir

TRIALS_DIR = "trials"  # <results>/trials/<task>/<stem>.json: the trial records


def trials_output(results: Path | str) -> Path:
    return Path(results) / TRIALS_DIR


def trial_overrides(max_steps: int, overrides: dict) -> dict:
    """What every trial of a search runs with on top of its folder: the shared budget, validation at the
    last step only (the score that counts), and no test set."""
    return {**overrides, "max_steps": max_steps, "eval_steps": max_steps, "evaluate_test": False}


def trial_folder(results: Path | str, exp: Experiment, key: str, number: int, tag: str = "trial") -> Path:
    """`<name>.trial-<key>-<NNN>`: trial NNN of the study keyed `key` (`tag` "confirm": that trial again,
    trained with the confirmation seed)."""
    return tune_dir(results) / "experiments" / exp.task / exp.method / f"{exp.name}.{tag}-{key}-{number:03d}"


def write_trial(folder: Path, exp: Experiment, params: dict, info: dict, early_stop: dict | None = None) -> Path:
    """The trial's experiment folder (rewritten identically when a resumed search reruns the trial), with
    the look part-way that may stop it (`early_stop`, when the search prunes and has set a bar)."""
    adapter, training = space_mod.apply(params, exp.peft_config, exp.overrides)
    if early_stop is not None:
        training = {**training, "early_stop": early_stop}
    folder.mkdir(parents=True, exist_ok=True)
    if adapter is not None:
        atomic_write_json(folder / ADAPTER_FILE, adapter)
    atomic_write_json(folder / PARAMS_FILE, training)
    atomic_write_json(folder / TRIAL_FILE, info)
    return folder


def outcome_of(output: Path, task: str, stem: str, digest: str) -> tuple[str, ResultRecord | None]:
    """What a trial's run left: (SUCCESS, record), (FAILED, record) for a run that broke by itself, or
    (INTERRUPTED, None) when it was stopped or never ran — then a resumed search runs it again."""
    for status in (SUCCESS, FAILED):
        path = result_path(output, task, stem, status) if status == SUCCESS else cancelled_dir(output) / task / f"{stem}.json"
        record = read_record_or_none(path)
        if record is None:
            continue
        if record.run_info.config_hash != digest:
            continue
        if record.status == SUCCESS:
            return SUCCESS, record
        if record.status == FAILED:
            return FAILED, record
    return INTERRUPTED, None


def score(record: ResultRecord, key: str) -> float | None:
    """The validation score of a trial: `key` in the last window row that has it (the last step)."""
    for row in reversed(record.window_rows()):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) if value == value else None  # NaN: no score
    return None


def describe_params(params: dict) -> str:
    return ", ".join(f"{key.removeprefix('optimizer_kwargs.')}={_short(value)}" for key, value in params.items())


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else json.dumps(value)
