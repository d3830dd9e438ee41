"""Optuna studies on disk: one SQLite file per results folder, one study per searched experiment and
budget, a lock so two searches never drive the same study, and a sampler that makes every trial's
suggestion a function of the finished trials alone.

    <results>/.tune/studies.db                 Optuna's storage (SQLite: a kill -9 loses no finished trial)
    <results>/.tune/locks/<study>.lock         held by the `peftbench tune` driving that study
    <results>/.tune/experiments/<task>/<method>/<name>.trial-<key>-<NNN>/   one folder per trial

Which configurations a study tries, in order: trial 0 is the experiment's own configuration (the
default: a search can then never choose something that scored worse than it on validation), trials 1 to
`STARTUP_TRIALS` are the centres of a Latin hypercube over the space (spread over the whole range, no
two close together, the same for every method relative to its range), and later trials come from TPE.
The first two kinds are enqueued when the study is created.

Why a fresh sampler per trial, seeded by the trial's number: Optuna's samplers keep their random state
in memory, so a search resumed after a crash would otherwise suggest different values than the same
search run without one. Seeded per trial, TPE's suggestion depends only on the finished trials in the
storage, and a resumed search is the search that would have run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from filelock import FileLock, Timeout

from peftbench.errors import UserError

TUNE_DIR = ".tune"
STARTUP_TRIALS = 4  # space-filling trials after the default, before TPE models the results; fixed, so --trials can grow


def tune_dir(results: Path | str) -> Path:
    return Path(results) / TUNE_DIR


def storage_url(results: Path | str) -> str:
    path = storage_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def open_study(results: Path | str, name: str):
    """The study `name` in the results folder's storage, created on first use; its trials survive crashes.
    A storage that cannot be opened (overwritten, truncated) is a UserError naming the way out."""
    import optuna

    _quiet()
    try:
        return optuna.create_study(study_name=name, storage=storage_url(results), direction="maximize",
                                   load_if_exists=True)
    except Exception as err:  # sqlalchemy's DatabaseError and kin: a file that is not (or no longer) SQLite
        if not type(err).__module__.startswith(("sqlalchemy", "optuna", "sqlite3")):
            raise
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"{storage_path(results)}: the search's storage cannot be opened ({reason}); run the same "
                        "command with --rebuild-storage to set it aside and rebuild it from the trial records "
                        "(finished trials are read back, not rerun)") from None


def storage_path(results: Path | str) -> Path:
    return tune_dir(results) / "studies.db"


def set_aside_storage(results: Path | str) -> Path | None:
    """Move the storage to studies.db.broken-<n> (kept, never deleted); the path it went to, or None."""
    path = storage_path(results)
    if not path.exists():
        return None
    n = 1
    while path.with_name(f"{path.name}.broken-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.broken-{n}")
    path.rename(target)
    return target


def study_lock(results: Path | str, name: str) -> FileLock:
    """Taken for the whole search; released by the kernel when the driver dies, even by kill -9."""
    path = tune_dir(results) / "locks" / (name.replace("/", "--").replace("@", "-at-") + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"study {name}: another `peftbench tune` is running it on {results} (lock {path})") from None
    return lock


def sampler_for(seed: int, number: int):
    """TPE (multivariate), seeded by the search seed and the trial's number."""
    from optuna.samplers import TPESampler

    return TPESampler(seed=seed * 100_003 + number, n_startup_trials=1 + STARTUP_TRIALS, multivariate=True)


def sampler_description(seed: int) -> str:
    return (f"trial 0 the default, then {STARTUP_TRIALS} Latin-hypercube centres, then Optuna TPE, seed {seed}")


def start_points(distributions: dict, seed: int, count: int = STARTUP_TRIALS) -> list[dict]:
    """`count` points spread over the space: the centres of a Latin hypercube's cells (in one dimension,
    1/8, 3/8, 5/8, 7/8 of the range; log ranges on the log scale), in an order fixed by `seed`."""
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(distributions), scramble=False, seed=seed).random(count)
    return [{key: _at(dist, float(u)) for (key, dist), u in zip(distributions.items(), row)} for row in unit]


def _at(dist, u: float):
    """The value of a distribution at quantile `u` of its range (uniform, or uniform on the log scale)."""
    import math

    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return dist.choices[min(int(u * len(dist.choices)), len(dist.choices) - 1)]
    low, high = dist.low, dist.high
    value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if dist.log else low + u * (high - low)
    return min(max(round(value), low), high) if isinstance(dist, IntDistribution) else value


def enqueue_start(study, default: dict, distributions: dict, seed: int) -> None:
    """On a new study: the default as trial 0, then the start points (nothing on a study with trials)."""
    if study.get_trials(deepcopy=False):
        return
    for params in [default, *start_points(distributions, seed)]:
        study.enqueue_trial(params)


def ask(study, distributions: dict, seed: int):
    """The next trial: an enqueued one (the default, a start point) first, else one TPE suggests with the
    sampler of its number."""
    from optuna.trial import TrialState

    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    # Optuna numbers trials 0, 1, ... in creation order and hands out enqueued ones first, oldest first.
    number = min(t.number for t in waiting) if waiting else len(study.get_trials(deepcopy=False))
    study.sampler = sampler_for(seed, number)
    trial = study.ask(distributions)
    if trial.number != number:  # another writer added a trial meanwhile: the lock should make this impossible
        raise RuntimeError(f"study {study.study_name}: expected trial {number}, got {trial.number}")
    return trial


def running(study) -> list:
    """Trials started but never told: their runs were interrupted (the driver died or was stopped)."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def finished(study) -> list:
    """Trials that count against the budget: completed, failed by themselves (e.g. a diverged loss), or
    stopped part-way by the pruner (`tune/prune.py`)."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED))


def report(study, number: int, value: float, step: int) -> None:
    """A running trial's look part-way, as its objective would have reported it (the pruner reads it)."""
    import optuna

    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    optuna.trial.Trial(study, trial._trial_id).report(value, step)


def prune(study, number: int) -> None:
    """Finish a trial its look stopped (Optuna's PRUNED state: the budget counts it, it never wins)."""
    from optuna.trial import TrialState

    study.tell(number, state=TrialState.PRUNED)


def score_of(trial) -> float | None:
    """A finished trial's validation score: None unless it trained every step (Optuna gives a pruned
    trial its look part-way as its value, which is not a score to compare)."""
    from optuna.trial import TrialState

    return trial.value if trial.state == TrialState.COMPLETE else None


def tell(study, number: int, value: float | None) -> None:
    """Finish a trial: its validation score, or None for a run that failed (Optuna's FAIL state: the
    sampler ignores it, the budget counts it)."""
    from optuna.trial import TrialState

    if value is None:
        study.tell(number, state=TrialState.FAIL)
    else:
        study.tell(number, value)
