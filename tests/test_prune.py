"""Multi-fidelity for `peftbench tune --prune` (tune/prune.py): a bar fixed before a trial starts is the
decision Optuna's pruner takes live; a run below its bar stops at its look and says so; a stopped trial
counts against the budget, its look reaches the study, and it never wins."""

from __future__ import annotations

import json
import random

import pytest

from peftbench.pipeline import execute
from peftbench.planning.experiment import load_experiment
from peftbench.planning.plan import plan_run
from peftbench.records.record import read_record
from peftbench.telemetry.progress import Reporter
from peftbench.tune import prune as prune_mod
from peftbench.tune import search as search_mod
from peftbench.tune.winner import write_tuned

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


@pytest.mark.parametrize("pruner", sorted(prune_mod.PRUNERS))
def test_the_bar_is_the_decision_optunas_pruner_takes_live(pruner):
    """Studies driven live (report, should_prune) with looks on a 64-problem grid, many of them tied, some
    trials failed: before each trial, the bar computed from the trials before it stops exactly the trials
    Optuna prunes, and no other."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    draw = random.Random(f"prune-{pruner}")
    pruning = prune_mod.Pruning(pruner, 20, 64)
    decisions = {True: 0, False: 0}
    for study_number in range(5):
        live = optuna.create_study(study_name=f"s{study_number}", direction="maximize", pruner=pruning.make())
        for number in range(8):
            bar = prune_mod.bar(live, number, pruning)
            trial = live.ask()
            look = draw.choice([0.0, *(k / 64 for k in range(20, 40))])
            trial.report(look, pruning.at)
            pruned = trial.should_prune()
            assert pruned == (bar is not None and not look >= bar), (study_number, number, look, bar)
            decisions[pruned] += 1
            if pruned:
                live.tell(trial, state=TrialState.PRUNED)
            elif draw.random() < 0.1:
                live.tell(trial, state=TrialState.FAIL)
            else:
                live.tell(trial, draw.random())
    assert decisions[True] >= 3 and decisions[False] >= 10  # both kinds of decision were checked


def test_the_first_trials_have_no_bar():
    import optuna

    pruning = prune_mod.Pruning("median", 5, None)
    study = optuna.create_study(direction="maximize", pruner=pruning.make())
    assert prune_mod.bar(study, 0, pruning) is None
    assert pruning.early_stop(None) == {"step": 5, "below": None, "items": None}  # looks all the same
    assert pruning.early_stop(0.25) == {"step": 5, "below": 0.25, "items": None}
    assert "a look at step 5 on every validation problem stops" in pruning.describe()


# GRPO going on past its look is every GRPO run (tests/test_grpo.py); stopping is what differs
@pytest.mark.parametrize("trainer, below, stopped", [("sft", 2.0, True), ("sft", -1.0, False), ("grpo", 2.0, True)])
def test_a_run_below_its_bar_stops_at_the_look_and_says_so(make_experiment, tiny_params, tmp_path, trainer, below,
                                                           stopped):
    params = {**tiny_params, "max_steps": 3, "eval_steps": 3, "early_stop": {"step": 1, "below": below, "items": 1}}
    if trainer == "grpo":
        params.update(trainer="grpo", grpo={"num_generations": 2, "max_new_tokens": 4})
    outcome = execute(plan_run(make_experiment(adapter=LORA, params=params)), tmp_path / "r", Reporter(enabled=False))
    record = outcome.record
    assert record.status == "success", record.run_info.error_msg
    look = record.train_info.early_stop
    assert look["step"] == 1 and look["items"] == 1 and look["below"] == below and look["stopped"] is stopped
    assert 0.0 <= look["score"] <= 1.0
    assert record.final_metrics()["step"] == (1 if stopped else 3)


def test_early_stop_in_a_config_is_checked(make_experiment, tiny_params):
    from peftbench.errors import UserError

    folder = make_experiment(adapter=LORA, params={**tiny_params, "early_stop": {"step": 2, "below": 0.1}})
    with pytest.raises(UserError, match="early_stop.step \\(2\\) must come before max_steps \\(2\\)"):
        plan_run(folder)
    plain = plan_run(make_experiment(name="plain", adapter=LORA, params=tiny_params))
    assert plain.config_hash == plan_run(plain.experiment.path, overrides={"early_stop": None}).config_hash


def test_a_pruned_trial_counts_reaches_the_study_and_never_wins(make_experiment, tiny_params, tmp_path, monkeypatch):
    """Every trial looks (its look reaches the study: later bars are set from it); trial 2 gets an unreachable
    bar, stops at its look, is PRUNED in the study and counts against the budget."""
    from optuna.trial import TrialState, create_trial

    from tests.test_tune import inline

    monkeypatch.setattr(prune_mod, "bar", lambda study, number, pruning: 2.0 if number == 2 else None)
    folder = make_experiment(method="lora", name="default", adapter=LORA, params={**tiny_params, "max_steps": 3})
    out = tmp_path / "results"
    pruning = prune_mod.Pruning("median", 1, 1)
    search = search_mod.prepare([load_experiment(folder)], 3, out, {}, pruning=pruning)
    rows = []
    try:
        search_mod.run(search, inline, lambda method, row: rows.append(row))
        method = search.methods[0]
        trials = search_mod.counted(method, 3)
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
        assert [list(t.intermediate_values) for t in trials] == [[1], [1], [1]]
        assert [row.state for row in rows] == ["success", "success", search_mod.PRUNED]
        assert rows[2].reason.startswith("stopped at step 1: look ") and "below its bar 2" in rows[2].reason
        assert "a look at step 1 on the first 1 validation problems stops a trial whose look is below the median" \
            in search.budget.describe()
        best = search_mod.winner(method, 3)
        tuned = write_tuned(search, method, search_mod.Decision(best, best, best.number == 0), {"max_steps": 3})
        history = load_experiment(tuned).tuned["history"]
        assert [(row["state"], row["value"] is None, list(row["looks"])) for row in history] == [
            ("complete", False, ["1"]), ("complete", False, ["1"]), ("pruned", True, ["1"])]
    finally:
        search.release()
    early = [json.loads((f / "training_params.json").read_text()).get("early_stop")
             for f in sorted((out / ".tune" / "experiments" / "minimath" / "lora").iterdir())]
    assert early == [{"step": 1, "below": None, "items": 1}] * 2 + [{"step": 1, "below": 2.0, "items": 1}]
    records = sorted((out / "trials" / "minimath").glob("*.json"))
    assert [read_record(p).train_info.early_stop is not None for p in records] == [True, True, True]

    # Whatever a pruned trial's value (Optuna keeps its look as one), only trials that trained every step win.
    looks = [create_trial(value=v, state=s, params={}, distributions={}, intermediate_values={1: v})
             for v, s in ((0.5, TrialState.COMPLETE), (0.9, TrialState.PRUNED), (0.6, TrialState.COMPLETE))]
    for number, trial in enumerate(looks):
        trial.number = number
    monkeypatch.setattr(search_mod, "counted", lambda method, trials: looks)
    assert search_mod.winner(None, 3).number == 2
