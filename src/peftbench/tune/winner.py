"""The winner of a search as an experiment folder, `<method>/tuned-<name>/`, next to the experiment it
came from: its adapter config and training parameters with the chosen values and the search's budget
(steps, `--set` overrides) written in, plus `tune.json`, the search's provenance, which every record of
the tuned experiment carries as `run_info.tuned`. Written again (identically, unless the choice changed)
each time the same search finishes, so a rerun of `peftbench tune` skips final runs already done.
"""

from __future__ import annotations

from pathlib import Path

from peftbench.config import deep_merge
from peftbench.experiment import ADAPTER_FILE, PARAMS_FILE, TUNED_FILE, Experiment
from peftbench.results import atomic_write_json
from peftbench.tune import space as space_mod
from peftbench.tune.search import MethodSearch, Search, counted

TUNED_PREFIX = "tuned-"


def tuned_folder(exp: Experiment) -> Path:
    return exp.path.parent / f"{TUNED_PREFIX}{exp.name}"


def provenance(search: Search, method: MethodSearch, best) -> dict:
    """tune.json: what was searched, on what budget, which split chose, and every counted trial."""
    budget = search.budget
    return {
        "study": method.name,
        "source": method.experiment.full_name,
        "selected_on": "validation",
        "objective": budget.objective,
        "params": best.params,
        "trial": best.number,
        "value": best.value,
        "trials": budget.trials,
        "max_steps": budget.max_steps,
        "validation": budget.validation,
        "sampler": budget.sampler,
        "space": method.space.to_json(),
        "space_origin": method.space.origin,
        "storage": _shown(search.results / ".tune" / "studies.db"),
        "history": [{"number": t.number, "params": t.params, "value": t.value, "state": t.state.name.lower()}
                    for t in counted(method, budget.trials)],
    }


def _shown(path: Path) -> str:
    """The path relative to the working directory when it lies inside it: tune.json is committed with a
    project, where an absolute path would name one machine's folders."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def write_tuned(search: Search, method: MethodSearch, best, baked: dict) -> Path:
    """Write `<method>/tuned-<name>/`; `baked` are the search's overrides the trials trained with (the
    step count, `--set` values), kept so the tuned experiment trains as its trials did."""
    exp = method.experiment
    adapter, training = space_mod.apply(best.params, exp.peft_config, exp.overrides)
    folder = tuned_folder(exp)
    folder.mkdir(parents=True, exist_ok=True)
    if adapter is not None:
        atomic_write_json(folder / ADAPTER_FILE, adapter)
    else:
        (folder / ADAPTER_FILE).unlink(missing_ok=True)
    atomic_write_json(folder / PARAMS_FILE, deep_merge(deep_merge(training, baked), _nested(best.params)))
    atomic_write_json(folder / TUNED_FILE, provenance(search, method, best))
    return folder


def _nested(params: dict) -> dict:
    """The training-parameter part of the chosen values, nested (they win over baked overrides)."""
    merged: dict = {}
    for key, value in params.items():
        if not key.startswith(space_mod.ADAPTER_PREFIX):
            merged = deep_merge(merged, space_mod.nested(key, value))
    return merged
