"""Multi-fidelity for `peftbench tune --prune`: a trial that is clearly losing stops part-way.

Each trial looks once before its last step (`RunConfig.early_stop`): at step `at` it scores the first
`items` validation problems — few, because telling a diverged learning rate from a working one takes
few, and on a CPU a look at all of them would cost about what stopping saves — and stops training if
the score is below its bar. A stopped trial counts against the budget (Optuna's PRUNED state) and can
never be the winner: only trials that trained every step are compared on the full validation split.

The bar is set by Optuna's pruner, when the trial starts: the study's earlier trials are replayed into
an in-memory study with that pruner (each look reported and `should_prune` asked, as a live trial is),
then bisection finds the lowest look this trial could report without being pruned. A study's trials
run one after another, so this is the decision Optuna takes live; and as the bar travels in the
trial's config, any executor (a local process, a Ray worker on another machine) applies it without
reaching the study's storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

# --prune NAME -> (Optuna pruner, what it stops). Percentile pruners compare a look with the looks of the
# trials that trained every step; successive halving with every earlier look (and keeps the top third).
PRUNERS = {
    "lower-quartile": "a trial whose look is below the lower quartile of the finished trials' looks at that "
                      "step (Optuna's PercentilePruner, 75th percentile kept)",
    "median": "a trial whose look is below the median of the finished trials' looks (Optuna's MedianPruner)",
    "halving": "a trial whose look is not in the top third of all earlier looks (Optuna's successive halving, "
               "reduction factor 3)",
}
STARTUP = 2  # finished trials (the default and one more) before a percentile pruner stops anything
BISECTIONS = 40  # halvings of the interval that holds the bar: far below any score's resolution


@dataclass(frozen=True)
class Pruning:
    """How trials look part-way: the pruner (a `PRUNERS` name), the step and the validation problems."""

    pruner: str
    at: int | None  # None: a third of the search's steps (`search.prepare` sets it from the budget)
    items: int | None

    def at_step(self, steps: int) -> Pruning:
        """This pruning with its look's step set: a third of `steps` when none was given."""
        return self if self.at is not None else replace(self, at=max(1, steps // 3))

    def make(self):
        import optuna

        if self.pruner == "halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=self.at, reduction_factor=3)
        percentile = {"median": 50.0, "lower-quartile": 75.0}[self.pruner]
        return optuna.pruners.PercentilePruner(percentile, n_startup_trials=STARTUP)

    def describe(self) -> str:
        scored = f"the first {self.items} validation problems" if self.items else "every validation problem"
        return f"a look at step {self.at} on {scored} stops {PRUNERS[self.pruner]}"

    def early_stop(self, bar: float | None) -> dict:
        """The trial's `early_stop` training parameter. Every trial looks, even without a bar (the first
        ones): their looks are what later bars are set from."""
        return {"step": self.at, "below": bar, "items": self.items}


def bar(study, number: int, pruning: Pruning) -> float | None:
    """The lowest look trial `number` of `study` may report at `pruning.at` and go on (None: whatever it
    reports, it goes on), by Optuna's pruner replayed over the trials numbered before it."""
    history = sorted((t for t in study.get_trials(deepcopy=False) if t.number < number), key=lambda t: t.number)

    def prunes(look: float) -> bool:
        return _replayed(study.study_name, history, pruning, look)

    if not prunes(-math.inf):
        return None
    looks = sorted({v for t in history if math.isfinite(v := t.intermediate_values.get(pruning.at, math.nan))})
    low, high = -math.inf, None
    for look in looks:  # every bar of these pruners sits at or below the best earlier look
        if prunes(look):
            low = look
        else:
            high = look
            break
    if high is None:  # no earlier look clears it: only a better one does
        high = (looks[-1] if looks else 0.0) + 1.0
        while prunes(high):
            high += abs(high) + 1.0
    if low == -math.inf:
        low = high - 1.0
        while not prunes(low):
            low -= abs(low) + 1.0
    for _ in range(BISECTIONS):  # prunes(low) and not prunes(high) hold throughout
        middle = (low + high) / 2
        if prunes(middle):
            low = middle
        else:
            high = middle
    return high


def _replayed(name: str, history: list, pruning: Pruning, look: float) -> bool:
    """Whether Optuna prunes a trial that reports `look` after the trials of `history` (in number order,
    from 0, each with the look and the state it had)."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.create_study(study_name=name, direction="maximize", pruner=pruning.make())
    for past in history:
        trial = study.ask()
        seen = past.intermediate_values.get(pruning.at)
        if seen is not None:
            trial.report(seen, pruning.at)
            trial.should_prune()  # as it was asked live: successive halving records the trial's rung here
        if past.state == TrialState.COMPLETE:
            study.tell(trial, past.value)
        elif past.state in (TrialState.PRUNED, TrialState.FAIL):
            study.tell(trial, state=past.state)
        # RUNNING (a trial of the same round) or WAITING: asked, never told, as in the live study
    trial = study.ask()
    trial.report(look, pruning.at)
    return trial.should_prune()
