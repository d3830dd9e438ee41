"""Predictions are streamed: the paired comparison keeps ids and scores, never the rows' text, and its
bootstrap holds bounded memory whatever the number of items."""

from __future__ import annotations

import json
import os
import random
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from peftbench.analysis import stats
from peftbench.analysis.predictions import ItemIndex, dense_scores, scan_scores
from peftbench.dashboard import items

TEXT = "x" * 300  # prompt and answer of one row: the part the statistics must not hold


def _sidecar(path, n, p=0.5, seed=0, text=TEXT):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": f"item-{i}", "prompt": text, "prediction": text, "gold": "1",
                                     "extracted": "1", "correct": rng.random() < p, "test_set": "minimath"}) + "\n")
    return path


def test_memory_of_the_paired_scores_does_not_grow_with_the_text(tmp_path):
    n = 50_000  # enough for the per-item cost to dominate; tracemalloc makes each row slow to read
    path = _sidecar(tmp_path / "a.predictions.jsonl", n)
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        scores = stats.item_scores([str(path)], {"minimath"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(scores) == n
    # ids (~60 B each), their index and two float arrays: a couple of hundred bytes per item, while the
    # file holds ~700 B of text per item. Reading whole rows (pandas) needed several times the file size.
    assert peak < 300 * n, f"{peak / n:.0f} bytes per item"
    assert peak < size / 2


def _old_item_scores(paths, test_sets, score="correct"):
    """The previous, DataFrame-based computation, as the reference for the streamed one."""
    columns = []
    for path in paths:
        frame = pd.read_json(path, lines=True, dtype=False)
        frame = frame.dropna(subset=["id", score])
        frame = frame[frame["test_set"].isna() | frame["test_set"].isin(test_sets)]
        columns.append(frame.drop_duplicates("id").set_index("id")[score].astype(float))
    return pd.concat(columns, axis=1, join="inner").mean(axis=1)


def test_streamed_scores_equal_the_dataframe_computation(tmp_path):
    rng = random.Random(3)
    paths = []
    for run in range(3):
        rows = []
        for i in rng.sample(range(60), 50):  # each run has a different subset, in a different order
            rows.append({"id": f"q{i}", "correct": rng.random() < 0.5, "test_set": rng.choice(["minimath", "gsm8k"])})
        rows.append({"id": "q1", "correct": True, "test_set": "minimath"})  # a duplicate: first one counts
        rows.append({"id": "q99", "correct": None, "test_set": "minimath"})  # no score: left out
        path = tmp_path / f"r{run}.predictions.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        paths.append(str(path))
    new = stats.item_scores(paths, {"minimath"})
    old = _old_item_scores(paths, {"minimath"})
    assert list(new.index) == list(old.index)
    assert np.allclose(new.to_numpy(), old.to_numpy())


def test_one_index_serves_every_experiment(tmp_path):
    a = _sidecar(tmp_path / "a.predictions.jsonl", 10, seed=1)
    b = _sidecar(tmp_path / "b.predictions.jsonl", 12, seed=2)
    index = ItemIndex()
    first, second = dense_scores([a], index), dense_scores([b], index)
    assert len(index) == 12 and len(first) == 10 and len(second) == 12
    assert scan_scores(a, "similarity") is None  # a text run has no such column


def test_large_bootstrap_matches_scipy_in_distribution():
    """Above SCIPY_MAX_ITEMS the same resampling is drawn as multinomial counts: its interval agrees
    with scipy's to within bootstrap noise, and is reproducible."""
    rng = np.random.default_rng(0)
    diffs = rng.choice([-1.0, 0.0, 1.0], size=stats.SCIPY_MAX_ITEMS + 1, p=[0.2, 0.5, 0.3])
    ours = stats.bootstrap_diffs(diffs, 2000, seed=0)
    theirs = scipy_stats.bootstrap((diffs,), np.mean, n_resamples=2000, method="percentile", batch=50,
                                   rng=np.random.default_rng(0)).confidence_interval
    half_width = (theirs.high - theirs.low) / 2
    assert abs(ours.ci_low - theirs.low) < 0.1 * half_width and abs(ours.ci_high - theirs.high) < 0.1 * half_width
    assert stats.bootstrap_diffs(diffs, 2000, seed=0) == ours


def test_continuous_scores_above_the_threshold_resample_in_batches():
    rng = np.random.default_rng(1)
    diffs = rng.normal(0.05, 0.2, size=stats.SCIPY_MAX_ITEMS + 1)  # image similarities: many distinct values
    result = stats.bootstrap_diffs(diffs, 200, seed=0)
    assert result.ci_low < diffs.mean() < result.ci_high and result.significant


def test_small_bootstraps_are_unchanged():
    """Reports computed before (scipy, batch 1000) get the same numbers."""
    diffs = np.random.default_rng(2).choice([-1.0, 0.0, 1.0], size=500)
    ours = stats.bootstrap_diffs(diffs, 2000, seed=0)
    theirs = scipy_stats.bootstrap((diffs,), np.mean, n_resamples=2000, method="percentile", batch=1000,
                                   rng=np.random.default_rng(0)).confidence_interval
    assert (ours.ci_low, ours.ci_high) == (theirs.low, theirs.high)


def test_item_tables_hold_only_the_items_they_show(tmp_path):
    a = _sidecar(tmp_path / "a.predictions.jsonl", 50, seed=1)
    b = _sidecar(tmp_path / "b.predictions.jsonl", 50, seed=2)
    assert len(items.items(a, limit=7)) == 7
    both = items.side_by_side(a, b, limit=5)
    assert len(both) == 5 and both["id"].tolist() == [f"item-{i}" for i in range(5)]


def test_a_broken_sidecar_is_a_warning_naming_it(tmp_path):
    from peftbench.analysis.load import load_runs
    from test_analysis_load import write_run

    write_run(tmp_path, "lora/default", correct=[True, False, True])
    broken = write_run(tmp_path, "ia3/default", correct=[True, True, True])
    sidecar = broken.with_name(broken.stem + ".predictions.jsonl")
    sidecar.write_text('{"id": "q0", "correct": true}\nnot json\n')
    warnings = []
    result = stats.compare_to_reference(load_runs(tmp_path), "lora/default", {"minimath"}, n_resamples=200,
                                        warn=warnings.append)
    assert result == {}
    assert len(warnings) == 1 and str(sidecar) in warnings[0] and "line 2" in warnings[0]


@pytest.mark.parametrize("content, expected", [
    (b'{"id": 1}\n\xff\n', "line 2 is not UTF-8"),
    (b'[1, 2]\n', "line 1 is not a JSON object"),
    (b"[" * 100_000 + b"\n", "line 1 is not valid JSON"),
])
def test_bad_sidecar_lines_name_the_file_and_line(tmp_path, content, expected):
    path = tmp_path / "a.predictions.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=expected):
        scan_scores(path)


def test_a_named_pipe_sidecar_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "a.predictions.jsonl"
    os.mkfifo(path)
    with pytest.raises(ValueError, match="named pipe"):
        scan_scores(path)
