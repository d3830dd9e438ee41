"""The answer sentence names the smallest method not shown worse than the reference *with its interval*,
so "not shown worse" cannot be read as "as good"."""

from __future__ import annotations

import json

from peftbench.analysis import answer, report_data
from peftbench.analysis.load import load_runs
from test_analysis_load import write_run


def _params(path, n: int) -> None:
    data = json.loads(path.read_text())
    data["train_info"]["num_trainable_params"] = n
    path.write_text(json.dumps(data))


def test_the_smallest_not_shown_worse_comes_with_its_interval(tmp_path):
    for seed in range(3):
        _params(write_run(tmp_path, "lora/default", seed=seed, correct=[i % 5 < 2 + (i + seed) % 2 for i in range(80)]),
                4_884_480)
        _params(write_run(tmp_path, "ia3/default", seed=seed, correct=[i % 5 < 2 + (i + seed + 1) % 2 for i in range(80)]),
                57_600)
    said = answer.sentence(report_data.build(load_runs(tmp_path), "lora", n_resamples=300)[0])
    assert said.startswith("Nothing beats lora/default on test accuracy here (1 corrected comparison)")
    assert "; the smallest not shown worse is ia3/default (57,600 trainable parameters, 85x fewer; " in said
    tail = said.split("85x fewer; ")[1]
    assert " pts [" in tail and tail.endswith("])."), said  # the difference and its interval, in points


def test_a_real_difference_is_coloured_in_the_html_leaderboard(tmp_path):
    from peftbench.analysis import report_html

    for seed in range(3):
        write_run(tmp_path, "lora/default", seed=seed, correct=[i % 4 != 0 for i in range(80)])
        write_run(tmp_path, "ia3/default", seed=seed, correct=[i % 4 == 0 for i in range(80)])
    report = report_data.build(load_runs(tmp_path), "lora", n_resamples=300)[0]
    html = report_html.render([report], {report.task: ""}, "")
    assert '<td class="worse">-50.0 pts [' in html and ": worse than lora/default</td>" in html
    assert 'class="better"' not in html


def test_the_narrow_leaderboard_keeps_quality_verdict_and_the_first_costs(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "lora/default", seed=seed, correct=[i % 3 != 0 for i in range(30)])
        write_run(tmp_path, "ia3/default", seed=seed, correct=[i % 2 == 0 for i in range(30)])
    report = report_data.build(load_runs(tmp_path), "lora", n_resamples=200)[0]
    narrow = list(report_data.leaderboard(report, narrow=True).columns)
    assert narrow[:4] == ["experiment", "runs", "test accuracy (95% CI)", "vs lora/default (paired)"]
    assert "Pareto front vs" not in narrow and "trainable parameters" not in narrow
    assert {"forgetting (Δ cross-entropy)", "train time (s)", "file size"} <= set(narrow)
    assert set(narrow) < set(report_data.leaderboard(report).columns)
