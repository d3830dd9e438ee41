"""Statistics: t intervals over seeds, summaries per experiment, the reference experiment (paired
verdicts: test_verdicts.py)."""

from __future__ import annotations

import math

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


def test_pick_reference_by_experiment_or_method(tmp_path):
    write_run(tmp_path, "lora/r32", acc=0.6)
    write_run(tmp_path, "lora/r8", acc=0.4)
    runs = load_runs(tmp_path)
    assert stats.pick_reference(runs, "lora/r8", "test accuracy") == "lora/r8"
    assert stats.pick_reference(runs, "lora", "test accuracy") == "lora/r32"  # no lora/default: the best
    write_run(tmp_path, "lora/default", acc=0.1)
    assert stats.pick_reference(load_runs(tmp_path), "LoRA", "test accuracy") == "lora/default"
    assert stats.pick_reference(runs, "ia3", "test accuracy") is None
