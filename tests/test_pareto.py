"""Pareto fronts and budget queries: directions per metric, ties, missing values."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peftbench.analysis.pareto import best_under_budget, pareto_front
from peftbench.errors import UserError

ACC, MEM, TIME = "test accuracy", "accelerator_memory_max", "train_time"


def _runs(rows):
    return pd.DataFrame(rows, columns=["run", ACC, MEM, TIME]).set_index("run")


def test_front_uses_higher_accuracy_and_lower_memory():
    df = _runs([
        ("a", 0.5, 10, 1), ("b", 0.4, 5, 1), ("c", 0.3, 8, 1),  # c: worse than b on both
        ("d", 0.6, 20, 1), ("e", 0.2, 5, 1),  # e: same memory as b, less accurate
    ])
    assert pareto_front(df, MEM, ACC).to_dict() == {"a": True, "b": True, "c": False, "d": True, "e": False}
    # the axes' order does not change the front
    assert pareto_front(df, ACC, MEM).equals(pareto_front(df, MEM, ACC))


def test_two_costs_lower_is_better_on_both():
    df = _runs([("a", 0, 1, 9), ("b", 0, 9, 1), ("c", 0, 5, 5), ("d", 0, 9, 9)])
    assert pareto_front(df, MEM, TIME).tolist() == [True, True, True, False]


def test_ties_are_kept_and_equal_x_keeps_only_best_y():
    df = _runs([("a", 0.5, 10, 1), ("a2", 0.5, 10, 1), ("b", 0.4, 10, 1), ("c", 0.5, 12, 1)])
    assert pareto_front(df, MEM, ACC).to_dict() == {"a": True, "a2": True, "b": False, "c": False}


def test_missing_values_are_never_on_the_front_and_dominate_nothing():
    df = _runs([("a", 0.5, 10, 1), ("nan-acc", math.nan, 1, 1), ("nan-mem", 0.9, math.nan, 1),
                ("inf", 0.9, math.inf, 1), ("b", 0.1, 20, 1)])
    front = pareto_front(df, MEM, ACC)
    assert front.to_dict() == {"a": True, "nan-acc": False, "nan-mem": False, "inf": False, "b": False}
    assert front.dtype == bool


def test_empty_frame_all_missing_and_duplicate_index():
    assert pareto_front(_runs([]), MEM, ACC).empty
    assert not pareto_front(_runs([("a", None, None, 1)]), MEM, ACC).any()
    df = pd.DataFrame({ACC: [0.1, 0.9], MEM: [1, 1]}, index=[0, 0])
    assert pareto_front(df, MEM, ACC).tolist() == [False, True]


def test_unknown_metric_is_a_user_error():
    with pytest.raises(UserError, match="unknown metric 'memory'"):
        pareto_front(_runs([]), "memory", ACC)


def _dominated(a, b, i):
    """Brute force: is point i dominated (both oriented larger-is-better)?"""
    return any(a[j] >= a[i] and b[j] >= b[i] and (a[j] > a[i] or b[j] > b[i]) for j in range(len(a)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5) | st.none(), st.integers(0, 5) | st.none()), max_size=25))
def test_front_matches_brute_force(points):
    df = pd.DataFrame([(x, y) for x, y in points], columns=[ACC, MEM], dtype=float)
    front = pareto_front(df, ACC, MEM).tolist()
    known = [i for i, (x, y) in enumerate(points) if x is not None and y is not None]
    a = [points[i][0] for i in known]
    b = [-points[i][1] for i in known]  # memory: lower is better
    expected = [False] * len(points)
    for k, i in enumerate(known):
        expected[i] = not _dominated(a, b, k)
    assert front == expected


def test_best_under_budget_filters_costs_and_quality_and_sorts_best_first():
    df = _runs([("a", 0.5, 10, 100), ("b", 0.4, 5, 50), ("c", 0.7, 30, 10), ("d", math.nan, 1, 1),
                ("e", 0.45, math.nan, 1)])
    chosen = best_under_budget(df, ACC, {MEM: 10})
    assert chosen.index.tolist() == ["a", "b"]  # c over budget, d has no accuracy, e no memory figure
    assert best_under_budget(df, MEM, {ACC: 0.45}).index.tolist() == ["a", "c"]  # lowest memory first
    assert best_under_budget(df, TIME, {}).index.tolist() == ["d", "e", "c", "b", "a"]


def test_best_under_budget_bad_input():
    df = _runs([("a", 0.5, 10, 100)])
    with pytest.raises(UserError, match="unknown metric 'vram'"):
        best_under_budget(df, ACC, {"vram": 1})
    with pytest.raises(UserError, match="budget for 'accelerator_memory_max': expected a number, got 'lots'"):
        best_under_budget(df, ACC, {MEM: "lots"})


def test_numeric_text_values_are_coerced_not_crashing():
    df = pd.DataFrame({ACC: ["0.5", "n/a", 0.7], MEM: [1, 1, np.nan]})
    assert pareto_front(df, MEM, ACC).tolist() == [True, False, False]


def test_float_noise_in_means_does_not_decide_the_front():
    df = pd.DataFrame({"test accuracy": [(0.2 + 0.4) / 2, (0.5 + 0.1) / 2], "file_size": [10.0, 10.0]})
    assert pareto_front(df, "file_size", "test accuracy").tolist() == [True, True]  # a tie, both kept
