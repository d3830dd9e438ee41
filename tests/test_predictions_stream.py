"""Predictions are streamed: the paired verdicts keep ids and scores, never the rows' text, and their
bootstrap holds bounded memory whatever the number of items."""

from __future__ import annotations

import json
import os
import random
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from peftbench.analysis import verdicts
from peftbench.analysis.predictions import scan_scores
from peftbench.dashboard import items

TEXT = "x" * 300  # prompt and answer of one row: the part the statistics must not hold


def _sidecar(path, n, p=0.5, seed=0, text=TEXT):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"id": f"item-{i}", "prompt": text, "prediction": text, "gold": "1",
                                     "extracted": "1", "correct": rng.random() < p, "test_set": "minimath"}) + "\n")
    return path


def _old_item_scores(paths, test_sets, score="correct"):
    """The previous, DataFrame-based computation, as the reference for the streamed one."""
    columns = []
    for path in paths:
        frame = pd.read_json(path, lines=True, dtype=False)
        frame = frame.dropna(subset=["id", score])
        frame = frame[frame["test_set"].isna() | frame["test_set"].isin(test_sets)]
        columns.append(frame.drop_duplicates("id").set_index("id")[score].astype(float))
    return pd.concat(columns, axis=1, join="inner").mean(axis=1)


def test_memory_of_the_item_scores_does_not_grow_with_the_text(tmp_path):
    n = 50_000  # enough for the per-item cost to dominate; tracemalloc makes each row slow to read
    path = _sidecar(tmp_path / "a.predictions.jsonl", n)
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        matrix = verdicts.item_matrix([str(path)], {"minimath"}, "correct")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert matrix.shape == (1, n)
    # ids (~60 B each) and their scores: a few hundred bytes per item, while the file holds ~700 B of
    # text per item. Reading whole rows (pandas) needed several times the file size.
    assert peak < 400 * n, f"{peak / n:.0f} bytes per item"
    assert peak < size / 2


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
    new = verdicts.item_matrix(paths, {"minimath"}, "correct").mean(axis=0)
    old = _old_item_scores(paths, {"minimath"})
    assert sorted(new.index) == sorted(old.index)
    assert np.allclose(new[sorted(new.index)].to_numpy(), old[sorted(old.index)].to_numpy())


def test_the_bootstrap_holds_bounded_memory_for_many_items():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 200_000)), rng.random((2, 200_000))
    tracemalloc.start()
    try:
        verdicts.hierarchical_bootstrap(a, b, n_resamples=40, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MiB"  # resamples x items at once would be 64 MB per array here


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
    runs = load_runs(tmp_path)
    result = verdicts.compute(runs, "lora/default", "test accuracy", {"minimath"}, "correct", 200, warn=warnings.append)
    assert [(v.experiment, v.reason) for v in result] == [("ia3/default", "no per-item predictions")]
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
