"""Statistics: t intervals over seeds, the paired bootstrap over test items, and its wording."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peftbench.analysis import stats
from peftbench.analysis.load import load_runs
from test_analysis_load import write_run


def test_single_run_has_no_interval_not_zero_width():
    mean, std, low, high, n = stats.t_interval([0.4])
    assert (mean, n) == (0.4, 1)
    assert math.isnan(std) and math.isnan(low) and math.isnan(high)


def test_t_interval_matches_the_textbook_formula():
    mean, std, low, high, n = stats.t_interval([1.0, 2.0, 3.0, float("nan")])  # NaN: a run without it
    assert (mean, std, n) == (2.0, 1.0, 3)
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * s / sqrt(n)
    assert (low, high) == pytest.approx((2 - half, 2 + half))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=8))
def test_interval_contains_the_mean(values):
    mean, _, low, high, _ = stats.t_interval(values)
    assert low <= mean + 1e-12 and mean - 1e-12 <= high


def test_summarize_groups_seeds_of_an_experiment(tmp_path):
    for seed, acc in enumerate([0.3, 0.5]):
        write_run(tmp_path, "lora/default", seed=seed, acc=acc)
    write_run(tmp_path, "ia3/default", acc=0.6, forgetting=None)
    summary = stats.summarize(load_runs(tmp_path), ["test accuracy", "forgetting"]).set_index("experiment")
    assert summary.loc["lora/default", "n_runs"] == 2 and summary.loc["lora/default", "seeds"] == [0, 1]
    assert summary.loc["lora/default", "test accuracy mean"] == pytest.approx(0.4)
    assert summary.loc["lora/default", "test accuracy ci_low"] < 0.3
    assert math.isnan(summary.loc["ia3/default", "test accuracy ci_low"])
    assert math.isnan(summary.loc["ia3/default", "forgetting mean"])  # missing stays missing
    assert summary.loc["ia3/default", "forgetting n"] == 0


def _scores(values, ids=None) -> pd.Series:
    return pd.Series(values, index=ids if ids is not None else [f"q{i}" for i in range(len(values))], dtype=float)


def test_identical_answers_differ_by_exactly_zero():
    same = _scores([1, 0, 1, 1, 0])
    diff = stats.paired_bootstrap(same, same)
    assert (diff.diff, diff.ci_low, diff.ci_high, diff.n_items) == (0, 0, 0, 5)
    assert not diff.significant


def test_a_clear_difference_is_significant_and_a_small_one_is_not():
    rng = np.random.default_rng(1)
    ref = _scores(rng.random(200) < 0.3)
    better = _scores(np.ones(200))
    clear = stats.paired_bootstrap(better, ref)
    assert clear.significant and clear.ci_low > 0.5
    one_item = ref.copy()
    one_item.iloc[np.flatnonzero(ref.to_numpy() == 0)[0]] = 1  # one more item right out of 200
    small = stats.paired_bootstrap(one_item, ref)
    assert small.diff == pytest.approx(1 / 200) and small.ci_low <= 0 <= small.ci_high
    assert not small.significant
    assert "not distinguishable from lora/default" in small.describe("lora/default")
    assert "higher than lora/default" in clear.describe("lora/default")


def test_bootstrap_is_reproducible_with_its_fixed_seed():
    rng = np.random.default_rng(2)
    a, b = _scores(rng.random(50) < 0.5), _scores(rng.random(50) < 0.5)
    assert stats.paired_bootstrap(a, b, 2000) == stats.paired_bootstrap(a, b, 2000)


def test_items_are_matched_by_id_and_only_shared_items_count():
    a = _scores([1, 1, 0], ids=["x", "y", "z"])
    b = _scores([0, 1, 1, 1], ids=["w", "z", "y", "x"])  # other order, one item a never answered
    diff = stats.paired_bootstrap(a, b, 1000)
    assert diff.n_items == 3
    assert diff.diff == pytest.approx(((1 - 1) + (1 - 1) + (0 - 1)) / 3)
    assert stats.paired_bootstrap(a, _scores([1], ids=["other"])) is None


def test_item_scores_average_seeds_and_keep_one_test_set(tmp_path):
    p0 = write_run(tmp_path, "lora/default", correct=[True, True, False])
    p1 = write_run(tmp_path, "lora/default", seed=1, correct=[True, False, False])
    sidecar = lambda p: str(p.with_name(p.stem + ".predictions.jsonl"))  # noqa: E731
    scores = stats.item_scores([sidecar(p0), sidecar(p1)], test_sets={"minimath"})
    assert scores.tolist() == [1.0, 0.5, 0.0]
    assert stats.item_scores([sidecar(p0)], test_sets={"gsm8k"}).empty
    assert stats.item_scores([sidecar(p0)], score="similarity").empty  # a text run has no such score


def test_compare_to_reference_uses_the_sidecars(tmp_path):
    write_run(tmp_path, "lora/default", correct=[False] * 40)
    write_run(tmp_path, "ia3/default", correct=[True] * 40)
    write_run(tmp_path, "vera/default", correct=[False] * 39 + [True])
    write_run(tmp_path, "boft/default", acc=0.9)  # no sidecar: not tested, not invented
    result = stats.compare_to_reference(load_runs(tmp_path), "lora/default", {"minimath"}, n_resamples=1000)
    assert set(result) == {"ia3/default", "vera/default"}
    assert result["ia3/default"].significant and not result["vera/default"].significant


def test_pick_reference_by_experiment_or_method(tmp_path):
    write_run(tmp_path, "lora/r32", acc=0.6)
    write_run(tmp_path, "lora/r8", acc=0.4)
    runs = load_runs(tmp_path)
    assert stats.pick_reference(runs, "lora/r8", "test accuracy") == "lora/r8"
    assert stats.pick_reference(runs, "lora", "test accuracy") == "lora/r32"  # no lora/default: the best
    write_run(tmp_path, "lora/default", acc=0.1)
    assert stats.pick_reference(load_runs(tmp_path), "LoRA", "test accuracy") == "lora/default"
    assert stats.pick_reference(runs, "ia3", "test accuracy") is None
