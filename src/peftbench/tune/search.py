"""The search: per experiment an Optuna study, all driven in rounds. A round asks each study for its next
trials, writes them as experiment folders, runs them all with the sweep machinery (any executor: local
processes, GPUs, a Ray cluster), reads each trial's validation score from its record and tells the study.

Cannot lose to the default: trial 0 of every study is the experiment's own configuration, and a better
trial replaces it only after both are trained again with a second seed (`confirm`) and the candidate's
mean validation score over the two seeds is still the higher: a lucky seed alone never moves the
default. Ties keep the default.

Equal budgets: every study gets the same number of trials, and every trial the same training steps and
batch size (a search refuses methods whose configs differ there, unless the knob is searched), the same
validation set and the same sampler. Resuming: finished trials live in the study's storage and their
records on disk; a trial started but never told (the driver was killed) is run again in the next round,
from the same folder, and a run that had already finished is only read, not repeated.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from peftbench.planning.config import build_config, deep_merge
from peftbench.errors import UserError
from peftbench.planning.experiment import Experiment, load_experiment
from peftbench.metrics import task_metric
from peftbench.records.status import FAILED, INTERRUPTED, SUCCESS
from peftbench.adapters.peft_config import validate_peft_config
from peftbench.planning.plan import plan_run
from peftbench.sweep.plan import SweepEntry, plan_sweep
from peftbench.tasks.registry import task_spec
from peftbench.tune import prune as prune_mod
from peftbench.tune import space as space_mod
from peftbench.tune import study as study_mod
from peftbench.tune import trials as trials_mod

Runner = Callable[[list[SweepEntry], Path], dict]  # (runs to do, trials folder) -> outcomes by run key
OnTrial = Callable[["MethodSearch", "TrialRow"], None]
BUDGET_KEYS = ("max_steps", "batch_size")  # what must be equal across methods unless searched
PRUNED = "pruned"  # a TrialRow state besides records.status': the trial stopped at its look (tune/prune.py)


@dataclass(frozen=True)
class TrialRow:
    number: int
    params: dict[str, Any]
    state: str  # records.status: SUCCESS | FAILED | INTERRUPTED, or PRUNED
    value: float | None = None
    reason: str = ""


@dataclass
class MethodSearch:
    experiment: Experiment
    space: space_mod.SearchSpace
    name: str  # the study's name: <task>/<method>/<name>@<key>
    key: str
    default: dict[str, Any] = field(default_factory=dict)  # the experiment's own value of each knob (trial 0)
    study: Any = None
    rows: dict[int, TrialRow] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    trials: int
    max_steps: int
    batch_size: int
    objective: str  # e.g. "valid accuracy"
    validation: str  # what the objective is measured on
    sampler: str
    seed: int  # the training seed of every trial
    pruning: prune_mod.Pruning | None = None  # trials look part-way and may stop (--prune)

    @property
    def confirm_seed(self) -> int:
        """The training seed that re-scores a winner and the default before one replaces the other."""
        return self.seed + 1

    def describe(self) -> str:
        return (f"{self.trials} trials per method ({self.sampler}) x {self.max_steps} steps of batch "
                f"{self.batch_size} (training seed {self.seed}); chosen on {self.objective} ({self.validation}); "
                f"a winner other than the default replaces it only if it also scores higher with seed "
                f"{self.confirm_seed}; the test set is not read"
                + (f"; {self.pruning.describe()}" if self.pruning else ""))


@dataclass
class Search:
    methods: list[MethodSearch]
    budget: Budget
    results: Path
    overrides: dict  # what every trial runs with on top of its folder
    seed: int
    batch: int  # trials of each study per round
    locks: list = field(default_factory=list)

    def release(self) -> None:
        for lock in self.locks:
            lock.release()


class SearchInterrupted(Exception):
    """Some trials of the round did not finish; the same command resumes them."""


def prepare(experiments: list[Experiment], trials: int, results: Path, overrides: dict, seed: int = 0,
            batch: int = 1, search_overrides: dict | None = None,
            pruning: prune_mod.Pruning | None = None) -> Search:
    """Validate every experiment's search (space, configs at a probe point, equal budgets, the default
    inside the space) and open its study (locked for this process) before any trial runs.
    `overrides` are the command's (`cli.common.run_overrides`): their max_steps, when there is one, is
    every trial's budget (`--search-set max_steps` does not change it), else the experiments' own (which
    must then agree). `search_overrides` apply to the trials only (e.g. a larger validation split), on
    top of `overrides`. `pruning`: trials look part-way and stop when Optuna's pruner says so; it is part of
    the budget, so a search with it is another study than one without."""
    results = Path(results)
    steps = overrides.get("max_steps")
    overrides = deep_merge(overrides, search_overrides or {})
    if steps is not None:
        overrides["max_steps"] = steps
    probes = [plan_run(exp.path, overrides=overrides, task=exp.task) for exp in experiments]
    steps = _equal_budget(probes, experiments)
    pruning = pruning.at_step(steps) if pruning is not None else None
    if pruning is not None and not 0 < (pruning.at or 0) < steps:
        raise UserError(f"--prune-at {pruning.at}: the look must come after step 0 and before the last step ({steps})")
    shared = trials_mod.trial_overrides(steps, overrides)
    methods = []
    for exp, probe in zip(experiments, probes):
        space = space_mod.load_space(exp.path, probe.cfg.optimizer_kwargs.get("lr"))
        _check_point(exp, space, shared)
        default = space_mod.default_point(space, probe.cfg.model_dump(), exp.peft_config, exp.path)
        keyed = {"config": plan_run(exp.path, overrides=shared, task=exp.task).config_hash, "space": space.to_json(),
                 "sampler": study_mod.sampler_description(seed)}
        if pruning is not None:  # only then: the studies of searches without it keep their keys
            keyed["pruning"] = pruning.describe()
        blob = json.dumps(keyed, sort_keys=True)
        key = hashlib.sha256(blob.encode()).hexdigest()[:8]
        methods.append(MethodSearch(exp, space, f"{exp.task}/{exp.full_name}@{key}", key, default))
    cfg, spec = probes[0].cfg, probes[0].spec
    data = getattr(cfg, "data", None)
    validation = f"{data.valid_size} validation problems" if data else "the validation split"
    budget = Budget(trials, steps, cfg.batch_size, task_metric("valid", spec.metric), validation,
                    study_mod.sampler_description(seed), cfg.seed, pruning)
    search = Search(methods, budget, results, shared, seed, max(1, batch))
    try:
        for method in methods:
            search.locks.append(study_mod.study_lock(results, method.name))
            method.study = study_mod.open_study(results, method.name)
            study_mod.enqueue_start(method.study, method.default, method.space.distributions(), seed)
    except BaseException:
        search.release()
        raise
    return search


def baked_overrides(search: Search, overrides: dict) -> dict:
    """What a tuned experiment's training parameters keep of the command's `overrides` (without the
    search's own): every `--set` value and the budget's steps, so it trains as its trials did."""
    return {**overrides, "max_steps": search.budget.max_steps}


def _equal_budget(probes, experiments) -> int:
    """The steps every trial trains; UserError when methods differ in a budget key none of them searches."""
    for key in BUDGET_KEYS:
        values = {exp.full_name: getattr(plan.cfg, key) for exp, plan in zip(experiments, probes)}
        searched = any(key in space_mod.load_space(e.path, 1.0).knobs for e in experiments)
        if len(set(values.values())) > 1 and not searched:
            listed = ", ".join(f"{name} {value}" for name, value in values.items())
            raise UserError(f"unequal budgets: {key} differs ({listed}); give --max-steps / --set {key}=N so every "
                            "method gets the same")
    return probes[0].cfg.max_steps


def _check_point(exp: Experiment, space: space_mod.SearchSpace, shared: dict) -> None:
    """Every searched key exists and takes values of its range: validated at the range's low end."""
    point = {k: (knob.choices[0] if knob.choices is not None else (int(knob.low) if knob.integer else knob.low))
             for k, knob in space.knobs.items()}
    adapter, training = space_mod.apply(point, exp.peft_config, exp.overrides)
    spec = task_spec(exp.task)
    where = f"{exp.path / space_mod.SPACE_FILE}"
    build_config(spec.defaults, deep_merge(training, shared), where, spec.config_model)
    if adapter is not None:
        validate_peft_config(adapter, where, "CAUSAL_LM" if spec.kind == "text" else None)


def run(search: Search, runner: Runner, on_trial: OnTrial | None = None) -> None:
    """Rounds until every study has its trials; SearchInterrupted when a round's trials did not all finish."""
    while True:
        batch = _next_batch(search)
        if not batch:
            return
        planned = plan_sweep([load_experiment(folder) for _, _, folder in batch], None,
                             trials_mod.trials_output(search.results), search.overrides)
        outcomes = runner(planned, trials_mod.trials_output(search.results)) or {}
        stopped = [_collect(search, method, number, plan, outcomes, on_trial)
                   for (method, number, _), plan in zip(batch, planned)]
        stopped = [reason for reason in stopped if reason is not None]
        if stopped:
            raise SearchInterrupted(f"{len(stopped)} trial(s) did not finish ({stopped[0]}); "
                                    "the same command resumes the search")


def _next_batch(search: Search) -> list[tuple[MethodSearch, int, Path]]:
    """Per study: trials left unfinished by an earlier run, then new ones up to the round's size and the budget."""
    batch = []
    for method in search.methods:
        study = method.study
        stale = study_mod.running(study)
        todo = [(t.number, t.params) for t in stale]
        room = search.budget.trials - len(study_mod.finished(study)) - len(stale)
        for _ in range(min(max(search.batch - len(stale), 0), room)):
            trial = study_mod.ask(study, method.space.distributions(), search.seed)
            todo.append((trial.number, trial.params))
        for number, params in todo:
            folder = trials_mod.trial_folder(search.results, method.experiment, method.key, number)
            info = {"study": method.name, "number": number, "params": params, "source": method.experiment.full_name,
                    "objective": search.budget.objective}
            pruning = search.budget.pruning
            early = pruning.early_stop(prune_mod.bar(study, number, pruning)) if pruning else None
            batch.append((method, number, trials_mod.write_trial(folder, method.experiment, params, info, early)))
    return batch


def _collect(search: Search, method: MethodSearch, number: int, plan: SweepEntry, outcomes: dict,
             on_trial: OnTrial | None) -> str | None:
    """Tell the study how the trial went; the reason when it did not finish (the trial stays open)."""
    state, record = trials_mod.outcome_of(trials_mod.trials_output(search.results), plan.task, plan.stem,
                                          plan.config_hash)
    params = plan.plan.experiment.trial["params"]
    if state == INTERRUPTED:
        outcome = outcomes.get(plan.key)
        reason = f"{plan.experiment}: {outcome.state}: {outcome.reason}" if outcome else f"{plan.experiment}: no result"
        row = TrialRow(number, params, state, None, reason)
    else:
        look = record.train_info.early_stop or {}
        if look:  # reported whether it stopped the trial or not: later trials' bars are set from it
            study_mod.report(method.study, number, look["score"], look["step"])
        if state == SUCCESS and look.get("stopped"):
            study_mod.prune(method.study, number)
            row = TrialRow(number, params, PRUNED, None, f"stopped at step {look['step']}: look "
                           f"{_score(look['score'])} below its bar {_score(look['below'])}")
        else:
            value = trials_mod.score(record, search.budget.objective) if state == SUCCESS else None
            if state == SUCCESS and value is None:
                state = FAILED
            study_mod.tell(method.study, number, value)
            row = TrialRow(number, params, state, value, record.run_info.error_msg if state == FAILED else "")
    method.rows[number] = row
    if on_trial:
        on_trial(method, row)
    return row.reason if state == INTERRUPTED else None


def counted(method: MethodSearch, trials: int) -> list:
    """The study's finished trials that count: the first `trials` of them, so a study that once ran with
    a larger --trials is judged on the same budget as the others."""
    return sorted(study_mod.finished(method.study), key=lambda t: t.number)[:trials]


def winner(method: MethodSearch, trials: int):
    """The counted trial with the best validation score (ties: the earliest, so the default, trial 0,
    wins a tie); None if none completed. A pruned trial never wins: its value is its look part-way."""
    done = [t for t in counted(method, trials) if study_mod.score_of(t) is not None]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


CONFIRM_TAG = "confirm"  # <name>.confirm-<key>-<NNN>: trial NNN trained again with the confirmation seed


@dataclass(frozen=True)
class Decision:
    """What a search settles for one method: the configuration that stands, and why."""

    best: Any  # the counted trial with the best validation score (an Optuna FrozenTrial); None if none completed
    chosen: Any  # the trial whose configuration stands: `best`, or trial 0 (the default)
    kept_default: bool
    confirmation: dict | None = None  # {"seed", "default", "candidate"}: the two re-scores, when there were any

    def describe(self, objective: str) -> str:
        if self.best is None:
            return "no trial completed"
        if self.best.number == 0:
            return f"kept the default: no trial scored above it ({objective} {self.best.value:.3g})"
        if self.confirmation is None:
            return f"trial {self.chosen.number} chosen: the default did not complete"
        c = self.confirmation
        means = (f"mean of seeds {c['seeds'][0]} and {c['seeds'][1]}: candidate {_score(c['candidate_mean'])}, "
                 f"default {_score(c['default_mean'])}")
        if self.kept_default:
            return f"kept the default: trial {self.best.number} scored higher, but not again with seed {c['seeds'][1]} ({means})"
        return f"trial {self.best.number} replaces the default, confirmed with seed {c['seeds'][1]} ({means})"


def _score(value: float | None) -> str:
    return FAILED if value is None else f"{value:.3g}"


def confirm(search: Search, runner: Runner) -> dict[str, Decision]:
    """Per study, the configuration that stands after re-scoring a winner other than the default, and the
    default, with the confirmation seed (both runs in one round, every study at once). SearchInterrupted
    when a confirmation run did not finish: the same command resumes."""
    pending, decisions = [], {}
    for method in search.methods:
        done = {t.number: t for t in counted(method, search.budget.trials)}
        best, default = winner(method, search.budget.trials), done.get(0)
        if best is None or best.number == 0 or default is None or default.value is None:
            decisions[method.name] = Decision(best, best, best is not None and best.number == 0)
            continue
        folders = [_confirm_folder(search, method, trial) for trial in (default, best)]
        pending.append((method, best, default, folders))
    if not pending:
        return decisions
    output = trials_mod.trials_output(search.results)
    planned = plan_sweep([load_experiment(f) for *_, folders in pending for f in folders], [search.budget.confirm_seed],
                         output, search.overrides)
    runner(planned, output)
    for (method, best, default, _), plans in zip(pending, zip(planned[::2], planned[1::2])):
        scores = []
        for plan in plans:
            state, record = trials_mod.outcome_of(output, plan.task, plan.stem, plan.config_hash)
            if state == INTERRUPTED:
                raise SearchInterrupted(f"{plan.experiment}: the confirmation run did not finish; the same command "
                                        "resumes the search")
            scores.append(trials_mod.score(record, search.budget.objective) if state == SUCCESS else None)
        decisions[method.name] = _decide(search, best, default, scores)
    return decisions


def _confirm_folder(search: Search, method: MethodSearch, trial) -> Path:
    folder = trials_mod.trial_folder(search.results, method.experiment, method.key, trial.number, CONFIRM_TAG)
    info = {"study": method.name, "number": trial.number, "params": trial.params, "source": method.experiment.full_name,
            "objective": search.budget.objective, "confirms": True}
    return trials_mod.write_trial(folder, method.experiment, trial.params, info)


def _decide(search: Search, best, default, scores: list[float | None]) -> Decision:
    """The candidate stands only if its mean over the two seeds beats the default's (a confirmation run
    that failed counts as no score: the other side stands)."""
    default_again, best_again = scores
    seeds = (search.budget.seed, search.budget.confirm_seed)
    default_mean = (default.value + default_again) / 2 if default_again is not None else None
    best_mean = (best.value + best_again) / 2 if best_again is not None else None
    confirmation = {"seeds": list(seeds), "default": [default.value, default_again], "candidate": [best.value, best_again],
                    "default_mean": default_mean, "candidate_mean": best_mean}
    wins = best_mean is not None and (default_mean is None or best_mean > default_mean)
    return Decision(best, best if wins else default, not wins, confirmation)
