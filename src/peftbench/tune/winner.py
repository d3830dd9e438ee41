"""What a search settles for each method, as an experiment folder in the search's own results folder,
`<results>/tuned/<task>/<method>/tuned-<name>/`: its adapter config and training parameters with the
chosen values and the search's budget (steps, `--set` overrides) written in, plus `tune.json`, the
search's provenance, which every record of the tuned experiment carries as `run_info.tuned`.

The folder belongs to one search (one study key: budget, `--set`, space, sampler): a search never writes
into `experiments/` (a committed configuration is never changed behind its back), and it refuses to
replace a folder another search wrote unless told to (`--force`). Written again (identically, unless
the choice changed) each time the same search finishes, so a rerun of `peftbench tune` skips final runs
already done. When the search kept the default, the folder says so (`kept_default`) and has no final
runs of its own: the default's are the tuned configuration's.
"""

from __future__ import annotations

import os
from pathlib import Path

from peftbench.planning.config import deep_merge, read_json
from peftbench.errors import UserError
from peftbench.planning.experiment import ADAPTER_FILE, PARAMS_FILE, TUNED_FILE, Experiment
from peftbench.records.results import atomic_write_json
from peftbench.tune import space as space_mod
from peftbench.tune.search import Decision, MethodSearch, Search, counted
from peftbench.tune.study import score_of, storage_path

TUNED_PREFIX = "tuned-"
TUNED_DIR = "tuned"  # <results>/tuned/<task>/<method>/tuned-<name>/


def tuned_folder(results: Path | str, exp: Experiment) -> Path:
    return Path(results) / TUNED_DIR / exp.task / exp.method / f"{TUNED_PREFIX}{exp.name}"


def tuned_folders(results: Path | str, task: str) -> list[Path]:
    """Every tuned experiment a search left in `results` for `task`."""
    return sorted(p.parent for p in (Path(results) / TUNED_DIR / task).glob(f"*/{TUNED_PREFIX}*/{TUNED_FILE}"))


def provenance(search: Search, method: MethodSearch, decision: Decision) -> dict:
    """tune.json: what was searched, on what budget, which split chose, what stood and why, and every
    counted trial."""
    budget, chosen = search.budget, decision.chosen
    return {
        "study": method.name,
        "source": method.experiment.full_name,
        "selected_on": "validation",
        "objective": budget.objective,
        "params": chosen.params,
        "trial": chosen.number,
        "value": chosen.value,
        "kept_default": decision.kept_default,
        "decision": decision.describe(budget.objective),
        "confirmation": decision.confirmation,
        "trials": budget.trials,
        "max_steps": budget.max_steps,
        "validation": budget.validation,
        "sampler": budget.sampler,
        "space": method.space.to_json(),
        "space_origin": method.space.origin,
        "storage": relative_to_cwd(storage_path(search.results)),
        "history": [_history_row(t) for t in counted(method, budget.trials)],
    }


def _history_row(trial) -> dict:
    """A trial in tune.json: its values, validation score and state, and its look part-way when the search
    pruned (`looks`, by step; a pruned trial has no score: Optuna's value for it is its look)."""
    row = {"number": trial.number, "params": trial.params, "value": score_of(trial), "state": trial.state.name.lower()}
    if trial.intermediate_values:
        row["looks"] = {str(step): value for step, value in trial.intermediate_values.items()}
    return row


def relative_to_cwd(path: Path) -> str:
    """The path relative to the working directory when it lies inside it: tune.json is committed with a
    project, where an absolute path would name one machine's folders."""
    try:  # absolute, not resolved: a results folder reached through a symlink stays where it was named
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(Path.cwd())).as_posix()
    except ValueError:
        return path.as_posix()


def check_owner(search: Search, method: MethodSearch, force: bool = False) -> Path:
    """The method's tuned folder; UserError when another search (another study) wrote it, unless `force`."""
    folder = tuned_folder(search.results, method.experiment)
    existing = folder / TUNED_FILE
    if existing.is_file() and not force:
        study = (read_json(existing) or {}).get("study")
        if study != method.name:
            raise UserError(f"{folder}: holds the winner of another search (study {study}, this one is {method.name}); "
                            "give this search its own --output-dir, or --force to replace it")
    return folder


def write_tuned(search: Search, method: MethodSearch, decision: Decision, baked: dict, force: bool = False) -> Path:
    """Write `<results>/tuned/<task>/<method>/tuned-<name>/`; `baked` are the search's overrides the trials
    trained with (the step count, `--set` values), kept so the tuned experiment trains as its trials did."""
    exp = method.experiment
    folder = check_owner(search, method, force)
    params = decision.chosen.params
    adapter, training = space_mod.apply(params, exp.peft_config, exp.overrides)
    folder.mkdir(parents=True, exist_ok=True)
    if adapter is not None:
        atomic_write_json(folder / ADAPTER_FILE, adapter)
    else:
        (folder / ADAPTER_FILE).unlink(missing_ok=True)
    atomic_write_json(folder / PARAMS_FILE, deep_merge(deep_merge(training, baked), _nested(params)))
    atomic_write_json(folder / TUNED_FILE, provenance(search, method, decision))
    return folder


def _nested(params: dict) -> dict:
    """The training-parameter part of the chosen values, nested (they win over baked overrides)."""
    merged: dict = {}
    for key, value in params.items():
        if not key.startswith(space_mod.ADAPTER_PREFIX):
            merged = deep_merge(merged, space_mod.nested(key, value))
    return merged
