"""`peftbench tune` on the tiny model: equal budgets, trials marked and kept out of leaderboards, selection
that never reads the test set, the winner as an experiment folder, resuming after kill -9, bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from peftbench.errors import UserError
from peftbench.planning.experiment import load_experiment
from peftbench.records.record import read_record
from peftbench.tune import search as search_mod
from peftbench.tune.winner import tuned_folder, write_tuned

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
IA3 = {"peft_type": "IA3", "task_type": "CAUSAL_LM", "target_modules": ["k_proj", "v_proj", "down_proj"],
       "feedforward_modules": ["down_proj"]}


def inline(planned, out):
    """Runs trials in this process (the pipeline a worker runs, without the process around it)."""
    from peftbench.pipeline import execute

    for run in planned:
        if run.action == "run":
            execute(run.plan, out)
    return {}


@pytest.fixture
def exps(make_experiment, tiny_params):
    def make(**methods) -> list:
        found = []
        for method, extra in methods.items():
            folder = make_experiment(method=method, name="default", adapter={"lora": LORA, "ia3": IA3}[method],
                                     params={**tiny_params, **(extra or {})})
            found.append(load_experiment(folder))
        return found

    return make


def _search(experiments, out, trials=3, **kwargs):
    steps = kwargs.pop("max_steps", None)
    search = search_mod.prepare(experiments, trials, out, {} if steps is None else {"max_steps": steps}, **kwargs)
    try:
        search_mod.run(search, inline)
    finally:
        search.release()
    return search


def test_equal_budgets_marked_trials_and_a_winner_folder(exps, tmp_path):
    experiments = exps(lora=None, ia3={"optimizer_kwargs": {"lr": 5e-2}})
    out = tmp_path / "results"
    search = _search(experiments, out, trials=3, max_steps=2)
    assert search.budget.trials == 3 and search.budget.max_steps == 2
    assert "3 trials per method" in search.budget.describe() and "the test set is not read" in search.budget.describe()
    records = [read_record(p) for p in sorted((out / "trials" / "minimath").glob("*.json"))]
    assert len(records) == 6  # 3 trials x 2 methods, each its own record
    for method in search.methods:
        assert len(search_mod.counted(method, 3)) == 3
    lrs = {}
    for record in records:
        info = record.run_info
        assert info.trial is not None and info.trial.objective == "valid accuracy"
        assert info.train_config["max_steps"] == 2 and info.train_config["evaluate_test"] is False
        assert record.final_metrics() == {}  # no test metric at all
        lrs.setdefault(info.trial.source, []).append(info.trial.params["optimizer_kwargs.lr"])
    # Trial 0 is the experiment's own lr; then the centres of the range (its lr divided / multiplied by 30,
    # on a log scale) at 5/8 and 1/8 of it: spread out, the same multiples for every method.
    for source, lr in (("lora/default", 2e-3), ("ia3/default", 5e-2)):
        assert lrs[source][0] == lr
        assert [math.log(x / lr, 30) for x in lrs[source][1:]] == pytest.approx([0.25, -0.75])
    assert not list((out / "trials" / "minimath").glob("*.predictions.jsonl"))  # nothing tested, nothing to pair

    lora = search.methods[0]
    best = search_mod.winner(lora, 3)
    decision = search_mod.Decision(best, best, best.number == 0)
    folder = write_tuned(search, lora, decision, {"max_steps": 2})
    assert folder == tuned_folder(out, lora.experiment) == out / "tuned" / "minimath" / "lora" / "tuned-default"
    tuned = load_experiment(folder)
    assert tuned.task == "minimath" and tuned.full_name == "lora/tuned-default"
    assert tuned.overrides["optimizer_kwargs"]["lr"] == best.params["optimizer_kwargs.lr"]
    assert tuned.overrides["max_steps"] == 2 and tuned.peft_config == LORA
    assert tuned.tuned["selected_on"] == "validation" and tuned.tuned["trial"] == best.number
    assert [row["number"] for row in tuned.tuned["history"]] == [0, 1, 2]
    assert not (lora.experiment.path.parent / "tuned-default").exists()  # experiments/ is never written


def test_selection_never_reads_the_test_set(exps, tmp_path, monkeypatch):
    """Trials with a corrupted (here: exploding) test split choose exactly what trials with the real one choose."""
    from peftbench.tasks.minimath.task import MiniMath

    experiments = exps(lora=None)
    clean = _search(experiments, tmp_path / "clean", trials=3, max_steps=2)
    calls = []

    def corrupted(self, cfg):
        calls.append(cfg)
        raise AssertionError("a trial read the test set")

    monkeypatch.setattr(MiniMath, "test_sets", corrupted)
    dirty = _search(experiments, tmp_path / "dirty", trials=3, max_steps=2)
    assert calls == []
    pick = [(search_mod.winner(m, 3).params, [t.value for t in search_mod.counted(m, 3)]) for m in (clean.methods[0], dirty.methods[0])]
    assert pick[0] == pick[1]


def test_a_finished_search_runs_nothing_and_more_trials_extend_it(exps, tmp_path):
    experiments = exps(lora=None)
    out = tmp_path / "results"
    first = _search(experiments, out, trials=2, max_steps=2)
    records = {p: p.read_bytes() for p in (out / "trials" / "minimath").glob("*.json")}
    ran = []
    again = search_mod.prepare(experiments, 2, out, {"max_steps": 2})
    try:
        search_mod.run(again, lambda planned, o: ran.extend(p for p in planned if p.action == "run"))
    finally:
        again.release()
    assert ran == []  # every trial finished: nothing is asked, nothing runs
    more = _search(experiments, out, trials=3, max_steps=2)
    assert [t.number for t in search_mod.counted(more.methods[0], 3)] == [0, 1, 2]
    assert all(p.read_bytes() == data for p, data in records.items())  # the first two were not rerun
    assert first.methods[0].name == more.methods[0].name  # the same study, grown


def test_unequal_budgets_and_bad_search_spaces_are_user_errors(exps, tmp_path):
    lora, ia3 = exps(lora=None, ia3={"max_steps": 5})
    with pytest.raises(UserError, match="unequal budgets: max_steps differs"):
        search_mod.prepare([lora, ia3], 2, tmp_path / "r", {})
    (lora.path / "search_space.json").write_text(json.dumps({"optimizer_kwargs.lr": {"low": 0, "high": 1, "log": True}}))
    with pytest.raises(UserError, match="search_space.json: 'optimizer_kwargs.lr': a log scale needs 'low' > 0"):
        search_mod.prepare([load_experiment(lora.path)], 2, tmp_path / "r", {"max_steps": 2})
    (lora.path / "search_space.json").write_text(json.dumps({"warmup_ratoi": {"low": 0.0, "high": 0.2}}))
    with pytest.raises(UserError, match="unknown training parameter 'warmup_ratoi'"):
        search_mod.prepare([load_experiment(lora.path)], 2, tmp_path / "r", {"max_steps": 2})


def test_declared_knobs_are_searched(exps, tmp_path):
    (lora,) = exps(lora=None)
    (lora.path / "search_space.json").write_text(json.dumps({
        "optimizer_kwargs.lr": {"low": 1e-4, "high": 1e-2, "log": True}, "adapter.r": {"choices": [2, 4]}}))
    search = _search([load_experiment(lora.path)], tmp_path / "r", trials=2, max_steps=1)
    for record in (read_record(p) for p in (tmp_path / "r" / "trials" / "minimath").glob("*.json")):
        params = record.run_info.trial.params
        assert 1e-4 <= params["optimizer_kwargs.lr"] <= 1e-2 and params["adapter.r"] in (2, 4)
        assert record.run_info.peft_config["r"] == params["adapter.r"]
    assert search.methods[0].space.origin == "search_space.json"


def _tune_args(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "peftbench", "tune", str(root), "--task", "minimath", "--methods", "lora",
            "--output-dir", str(out), *extra]


def test_kill_9_of_tune_then_rerun_resumes_and_finishes(exps, tmp_path):
    """kill -9 of the driver during trial 1; the same command (here with the final runs) reruns trial 1
    only, writes the winner, runs it and the default on the test set (with --final-set's larger test
    split, which the trials never saw), and prints the verdicts."""
    exps(lora=None)
    root, out = tmp_path / "experiments", tmp_path / "results"
    args = _tune_args(root, out, "--trials", "2", "--max-steps", "20")
    driver = subprocess.Popen([*args, "--no-final"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    trials = out / "trials" / "minimath"
    deadline = time.monotonic() + 400
    while not list(trials.glob("*-000.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    beats = out / "trials" / ".sweep" / "runs" / "minimath"
    while not list(beats.glob("*-001.status")) and time.monotonic() < deadline:
        time.sleep(0.1)
    driver.kill()  # kill -9 of the driver, mid-way through trial 1
    driver.communicate(timeout=60)
    (first,) = trials.glob("*-000.json")
    before = first.read_bytes()
    assert not list(trials.glob("*-001.json"))  # trial 1 was interrupted

    rerun = subprocess.run([*args, "--seeds", "0", "--final-set", "data.test_size=5"], capture_output=True, text=True, timeout=900,
                           env={**os.environ, "COLUMNS": "250"})
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    said = " ".join(rerun.stdout.split())  # the console wraps long lines at its width
    assert "1 of 2 trials done" in said
    assert "trial lora/default #1" in rerun.stdout and "trial lora/default #0" not in rerun.stdout
    assert first.read_bytes() == before  # the finished trial was not repeated
    assert len(list(trials.glob("*.json"))) == 2
    provenance = json.loads((out / "tuned" / "minimath" / "lora" / "tuned-default" / "tune.json").read_text())
    assert not (root / "minimath" / "lora" / "tuned-default").exists()  # experiments/ is never written
    finals = sorted(p.name for p in (out / "minimath").glob("*.json"))
    # The tiny model scores alike everywhere: ties go to the default, whose runs are then the tuned ones.
    assert provenance["kept_default"] is True and finals == ["lora--default.json"]
    assert {read_record(out / "minimath" / f).run_info.train_config["data"]["test_size"] for f in finals} == {5}
    assert read_record(first).run_info.train_config["data"]["test_size"] == 3
    assert "2 trials per method" in said and "winners re-run with seeds 0" in said
    assert "kept the default: no trial scored above it" in said


@pytest.mark.parametrize("extra, expected", [
    (["--methods", "nosuch"], "error: --methods: no experiments for nosuch"),
    (["--methods", "base"], "error: nothing to tune: every selected experiment is a baseline"),
    (["--methods", "lora,ia3"], "error: unequal budgets: max_steps differs (ia3/default 5, lora/default 2)"),
    (["--seeds", "a,b"], "error: --seeds: expected a comma-separated list of ints"),
    (["--methods", "lora", "--prune", "nosuch"], "error: --prune 'nosuch': expected one of lower-quartile, median, halving"),
    (["--methods", "lora", "--prune-at", "1"], "error: --prune-at: give --prune too"),
    (["--methods", "lora", "--prune", "median", "--prune-at", "2"],
     "error: --prune-at 2: the look must come after step 0 and before the last step (2)"),
])
def test_bad_input_is_one_line_and_exit_2(exps, make_experiment, tiny_params, tmp_path, extra, expected):
    from typer.testing import CliRunner

    from peftbench.cli import app

    exps(lora=None, ia3={"max_steps": 5})
    make_experiment(method="base", name="zero-shot", params={**tiny_params, "skip_training": True})
    args = ["tune", str(tmp_path / "experiments"), "--task", "minimath", "--output-dir", str(tmp_path / "r"), *extra]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "trials").exists()  # nothing ran, nothing half-written


def test_a_resumed_study_suggests_what_an_uninterrupted_one_would(tmp_path):
    """The sampler is seeded per trial number: after 5 finished trials (past the random start-up), a
    study reopened from its storage — as after a crash — asks for the same values as one never closed."""
    from peftbench.tune import study as study_mod
    from peftbench.tune.space import Knob

    space = {"optimizer_kwargs.lr": Knob(low=1e-4, high=1e-1, log=True).distribution()}
    score = {}

    def drive(results, reopen: bool) -> list[float]:
        study = study_mod.open_study(results, "minimath/lora/default@k")
        asked = []
        for number in range(7):
            if reopen:
                study = study_mod.open_study(results, "minimath/lora/default@k")
            trial = study_mod.ask(study, space, seed=3)
            lr = trial.params["optimizer_kwargs.lr"]
            asked.append(lr)
            study_mod.tell(study, trial.number, score.setdefault(number, -abs(math.log10(lr) + 2.5)))
        return asked

    assert drive(tmp_path / "a", reopen=False) == drive(tmp_path / "b", reopen=True)


def test_tune_json_names_its_storage_relative_to_the_working_directory(tmp_path, monkeypatch):
    """tune.json is committed with a project: a storage inside the working directory is written relative
    to it, not as this machine's absolute path; one outside stays absolute."""
    from peftbench.tune.winner import relative_to_cwd

    monkeypatch.chdir(tmp_path)
    assert relative_to_cwd(tmp_path / "results" / ".tune" / "studies.db") == "results/.tune/studies.db"
    assert relative_to_cwd(Path("results/.tune/studies.db")) == "results/.tune/studies.db"
    outside = tmp_path.parent / "elsewhere" / "studies.db"
    assert relative_to_cwd(outside) == outside.as_posix()


def _t(number, value, params=None):
    from types import SimpleNamespace

    return SimpleNamespace(number=number, value=value, params=params or {"optimizer_kwargs.lr": 1e-3 * (number + 1)})


@pytest.mark.parametrize("again, stands", [
    ((0.30, 0.40), 3),  # better again with the second seed: mean 0.45 vs 0.35
    ((0.40, 0.30), 0),  # not again: mean 0.40 vs 0.40 is a tie, and a tie keeps the default
    ((0.40, 0.20), 0),  # worse with the second seed
    ((0.40, None), 0),  # the candidate's confirmation run failed
    ((None, 0.30), 3),  # the default's failed: the candidate's mean stands alone
])
def test_a_winner_replaces_the_default_only_if_confirmed_by_a_second_seed(again, stands):
    from types import SimpleNamespace

    search = SimpleNamespace(budget=SimpleNamespace(seed=0, confirm_seed=1))
    default, best = _t(0, 0.40), _t(3, 0.50)
    decision = search_mod._decide(search, best, default, list(again))
    assert decision.chosen.number == stands and decision.kept_default == (stands == 0)
    assert decision.confirmation["seeds"] == [0, 1] and decision.confirmation["candidate"] == [0.50, again[1]]
    words = decision.describe("valid accuracy")
    assert ("replaces the default, confirmed with seed 1" in words) == (stands == 3)


def test_the_default_must_lie_inside_its_search_space(exps, tmp_path):
    (lora,) = exps(lora=None)
    (lora.path / "search_space.json").write_text(json.dumps({"optimizer_kwargs.lr": {"low": 1e-2, "high": 1e-1, "log": True}}))
    with pytest.raises(UserError, match=r"'optimizer_kwargs.lr': the experiment's own value 0.002 lies outside 0.01 to 0.1"):
        search_mod.prepare([load_experiment(lora.path)], 2, tmp_path / "r", {"max_steps": 1})


def test_a_search_writes_only_its_output_folder_and_never_over_another_search(exps, tmp_path):
    """A quick search in a git checkout leaves `git status` clean outside --output-dir; a second search
    with another budget into the same folder refuses to replace the first one's winner (one line, exit
    2) until --force."""
    from typer.testing import CliRunner

    from peftbench.cli import app

    exps(lora=None)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "experiments"], check=True)
    subprocess.run([*git, "commit", "-qm", "experiments"], check=True)
    out = tmp_path / "out"
    base = ["tune", str(tmp_path / "experiments"), "--task", "minimath", "--methods", "lora", "--trials", "1",
            "--no-final", "--output-dir", str(out)]
    first = CliRunner().invoke(app, [*base, "--max-steps", "1"], env={"COLUMNS": "250"})
    assert first.exit_code == 0, first.output
    status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    assert status.splitlines() == ["?? out/"], status
    tune_json = out / "tuned" / "minimath" / "lora" / "tuned-default" / "tune.json"
    before = tune_json.read_bytes()
    other = CliRunner().invoke(app, [*base, "--max-steps", "2"], env={"COLUMNS": "250"})
    assert other.exit_code == 2 and "holds the winner of another search" in other.output and "--force" in other.output
    assert tune_json.read_bytes() == before and not list((out / "trials" / "minimath").glob("*-001.json"))
    forced = CliRunner().invoke(app, [*base, "--max-steps", "2", "--force"], env={"COLUMNS": "250"})
    assert forced.exit_code == 0, forced.output
    assert json.loads(tune_json.read_text())["max_steps"] == 2


@pytest.mark.parametrize("lucky, replaced", [(False, True), (True, False)])
def test_confirmation_runs_both_with_the_second_seed(exps, tmp_path, monkeypatch, lucky, replaced):
    """A trial that beats the default is trained again with seed 1, and so is the default; the candidate
    stands only if it is still ahead on the mean. Scores here are made up from the lr (the tiny model
    scores 0 everywhere); `lucky`: the candidate's lead was seed 0's luck."""
    from peftbench.tune import trials as trials_mod

    def score(record, key):
        lr, seed = record.run_info.train_config["optimizer_kwargs"]["lr"], record.run_info.seed
        if lr == 2e-3:
            return 0.4  # the default, both seeds
        return 0.5 if seed == 0 or not lucky else 0.2

    monkeypatch.setattr(trials_mod, "score", score)
    (lora,) = exps(lora=None)
    out = tmp_path / "results"
    search = search_mod.prepare([lora], 2, out, {"max_steps": 1})
    try:
        search_mod.run(search, inline)
        decision = search_mod.confirm(search, inline)[search.methods[0].name]
    finally:
        search.release()
    assert decision.best.number == 1 and decision.kept_default is not replaced
    assert decision.chosen.number == (1 if replaced else 0)
    confirms = [read_record(p) for p in sorted((out / "trials" / "minimath").glob("*confirm*.json"))]
    assert [(r.run_info.seed, r.run_info.trial.number, r.run_info.trial.confirms) for r in confirms] == [
        (1, 0, True), (1, 1, True)]


SHIPPED_MINIMATH = Path(search_mod.__file__).resolve().parents[1] / "experiments" / "minimath"
BUDGET = ("8 trials per method (trial 0 the default, then 4 Latin-hypercube centres, then Optuna TPE, seed 0) x {steps} "
          "steps of batch 4 (training seed 0); chosen on valid accuracy ({valid} validation problems); a winner other "
          "than the default replaces it only if it also scores higher with seed 1; the test set is not read")


@pytest.mark.parametrize(("set_", "max_steps", "model", "search_set", "names", "budget", "baked"), [
    # benchmarks/tune_minimath.py's search, which resumes from published/minimath-tuned/.tune/studies.db
    (["data.valid_size=64"], None, None, ["data.valid_size=256"], ["lora/default@69941b84", "ia3/default@4605fef2"],
     BUDGET.format(steps=60, valid=256), '{"data": {"valid_size": 64}, "max_steps": 60}'),
    ([], 5, "foo/bar", [], ["lora/default@f7efe2c2", "ia3/default@336b4e33"], BUDGET.format(steps=5, valid=16),
     '{"model_id": "foo/bar", "max_steps": 5}'),
    (["max_steps=7", "data.valid_size=64"], 5, None, [], ["lora/default@59775089", "ia3/default@154078d0"],
     BUDGET.format(steps=5, valid=64), '{"max_steps": 5, "data": {"valid_size": 64}}'),
])
def test_study_keys_and_budgets_stay_what_they_were(tmp_path, set_, max_steps, model, search_set, names, budget, baked):
    """Study names, the budget and the overrides a tuned experiment keeps, pinned to what they were when
    --max-steps still reached the search apart from the overrides: a search resumes only from the same keys,
    and tuned experiments are rewritten byte for byte."""
    from peftbench.cli.common import run_overrides
    from peftbench.planning.config import parse_overrides

    experiments = [load_experiment(SHIPPED_MINIMATH / method / "default") for method in ("lora", "ia3")]
    overrides = run_overrides(set_, max_steps, model)
    search = search_mod.prepare(experiments, 8, tmp_path, overrides, 0, 1, parse_overrides(search_set))
    try:
        assert [m.name for m in search.methods] == [f"minimath/{name}" for name in names]
        assert search.budget.describe() == budget
        assert json.dumps(search_mod.baked_overrides(search, overrides)) == baked
    finally:
        search.release()


def test_tune_searches_a_grpo_experiment_like_any_other(exps, tmp_path):
    """RL trials train with GRPO (rewards from the training split), are scored on greedy validation accuracy
    and keep their grpo block; the winner folder trains with GRPO too."""
    grpo = {"trainer": "grpo", "grpo": {"num_generations": 2, "max_new_tokens": 4}}
    out = tmp_path / "results"
    search = _search(exps(lora=grpo), out, trials=2, max_steps=2)
    records = [read_record(p) for p in sorted((out / "trials" / "minimath").glob("*.json"))]
    assert len(records) == 2
    for record in records:
        assert record.status == "success", record.run_info.error_msg
        config = record.run_info.train_config
        assert config["trainer"] == "grpo" and config["grpo"]["num_generations"] == 2
        assert record.run_info.trial.objective == "valid accuracy" and record.final_metrics() == {}
        assert any("reward" in row for row in record.train_info.metrics)
    lora = search.methods[0]
    best = search_mod.winner(lora, 2)
    folder = write_tuned(search, lora, search_mod.Decision(best, best, best.number == 0), {"max_steps": 2})
    assert load_experiment(folder).overrides["trainer"] == "grpo"
