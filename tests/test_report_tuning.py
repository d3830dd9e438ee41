"""The report on searches: trial records never reach a leaderboard, the sensitivity plot draws every
trial, default and tuned stand side by side with the split that chose, the terminal shows verdicts."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from peftbench.analysis import report_data, report_verdicts
from peftbench.analysis.load import load_runs
from peftbench.cli import app
from test_analysis_load import record, write_run

runner = CliRunner()


def _trial(folder, number: int, lr: float, valid: float | None, source: str = "lora/default"):
    """A trial record as `peftbench tune` leaves one: no test metric, run_info.trial set."""
    method, name = source.split("/")
    stem = f"{method}--{name}.trial-abcd1234-{number:03d}"
    data = record(source, acc=None, forgetting=None, status="success" if valid is not None else "failed")
    data["run_info"]["experiment_name"] = f"{method}/{name}.trial-abcd1234-{number:03d}"
    data["run_info"]["trial"] = {"study": f"minimath/{source}@abcd1234", "number": number,
                                 "params": {"optimizer_kwargs.lr": lr}, "source": source, "objective": "valid accuracy"}
    for row in data["train_info"]["metrics"]:
        row["valid accuracy"] = valid
    target = folder / ("trials" if valid is not None else "cancelled_trials") / "minimath" / f"{stem}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data))


def _tuned(folder, seed: int, correct: list[bool]):
    path = write_run(folder, "lora/tuned-default", seed=seed, correct=correct)
    data = json.loads(path.read_text())
    data["run_info"]["tuned"] = {"study": "minimath/lora/default@abcd1234", "source": "lora/default",
                                 "selected_on": "validation", "objective": "valid accuracy",
                                 "params": {"optimizer_kwargs.lr": 3e-3}, "trial": 1, "value": 0.5, "trials": 3,
                                 "max_steps": 60}
    path.write_text(json.dumps(data))


def _results(tmp_path):
    results = tmp_path / "results"
    for seed in range(3):
        write_run(results, "lora/default", seed=seed, correct=[i < 10 + seed for i in range(60)])
        _tuned(results, seed, [i < 30 + seed for i in range(60)])
    for number, (lr, valid) in enumerate(((1e-4, 0.2), (3e-3, 0.5), (5e-2, None))):
        _trial(results, number, lr, valid)
    return results


def test_trials_never_reach_a_leaderboard_and_feed_the_sensitivity_plot(tmp_path):
    results = _results(tmp_path)
    runs = load_runs(results)
    assert runs["trial"].notna().sum() == 3  # read, and marked
    report = report_data.build(runs, "lora", n_resamples=500)[0]
    assert set(report_data.leaderboard(report)["experiment"]) == {"lora/default", "lora/tuned-default"}
    assert report.reference == "lora/tuned-default"  # a method means its tuned default once there is one
    assert report.n_failed == 0  # the failed trial is not a failed final run
    assert list(report.trials["value"].isna()) == [False, False, True] and list(report.trials["lr"]) == [1e-4, 3e-3, 5e-2]

    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--results", str(results), "--out", str(out), "--resamples", "500"])
    assert result.exit_code == 0, result.output
    assert (out / "figures" / "minimath-lr-sensitivity.png").stat().st_size > 10_000
    markdown = (out / "summary.md").read_text()
    assert "### Default vs tuned" in markdown and "validation split, 3 trials of 60 steps: valid accuracy 50.0%, trial 1" in markdown
    assert "lr=0.003" in markdown and "better than lora/default" in markdown  # tuned vs default, 3 seeds each
    assert ".trial-abcd1234" not in markdown.split("### Default vs tuned")[0]  # no trial in the leaderboard
    assert "learning-rate sensitivity" in (out / "report.html").read_text()


def test_terminal_table_shows_verdicts_noise_floor_and_power(tmp_path):
    results = _results(tmp_path)
    result = runner.invoke(app, ["report", "--results", str(results), "--format", "table", "--resamples", "500"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "minimath: verdicts" in result.output and "worse" in result.output  # default vs the tuned reference
    assert "noise floor: seed-to-seed standard deviation" in result.output and "lora/tuned-default's own" in result.output
    assert "power: lora/default vs lora/tuned-default: 95% interval" in result.output
    assert "minimath: default vs tuned" in result.output


def test_dashboard_reads_trials_but_leaves_them_out_of_its_table(tmp_path):
    from peftbench.dashboard import view

    runs = load_runs(_results(tmp_path))
    assert runs["trial"].notna().any()
    assert set(view.select(runs, "minimath", None)["experiment"]) == {"lora/default", "lora/tuned-default"}


def test_a_kept_default_is_a_row_of_its_own_without_runs_of_its_own(tmp_path):
    """A search that kept the default wrote tuned/<task>/<method>/tuned-<name>/tune.json and ran no finals
    of its own: the report says so beside the default's runs, with no verdict."""
    from peftbench.analysis import report_verdicts

    results = tmp_path / "results"
    for seed in range(2):
        write_run(results, "ia3/default", seed=seed, correct=[i < 20 for i in range(60)])
    folder = results / "tuned" / "minimath" / "ia3" / "tuned-default"
    folder.mkdir(parents=True)
    (folder / "tune.json").write_text(json.dumps({
        "study": "minimath/ia3/default@k", "source": "ia3/default", "selected_on": "validation",
        "objective": "valid accuracy", "params": {"optimizer_kwargs.lr": 0.05}, "trial": 0, "value": 0.3,
        "trials": 8, "max_steps": 60, "kept_default": True, "decision": "kept the default: no trial scored above it"}))
    report = report_data.build(load_runs(results), "ia3", n_resamples=200)[0]
    (row,) = report.tuned
    assert row["kept"] and row["default"] == "ia3/default" and row["verdict"] is None
    table = report_verdicts.tuned_table(report)
    assert table["tuned"].tolist() == ["the default (kept)"] and table["tuned vs default"].tolist() == ["same configuration"]
    assert "kept the default: no trial scored above it" in table["chosen on"].iloc[0]


def test_the_search_cost_is_cpu_hours_per_stage_with_threads_and_failed_runs_counted(tmp_path):
    results = _results(tmp_path)  # 3 trials (one failed), 3 default and 3 tuned finals: 92.3 s each, 1 thread
    _trial(results, 1, 3e-3, 0.55)  # the confirmation re-score of trial 1, on 2 threads
    path = next((results / "trials" / "minimath").glob("*-001.json"))
    confirm = path.with_name(path.name.replace(".trial-", ".confirm-"))
    data = json.loads(path.read_text())
    data["run_info"]["trial"]["confirms"] = True
    data["meta_info"]["system_info"] = {"torch_num_threads": 2}
    confirm.write_text(json.dumps(data))
    _trial(results, 1, 3e-3, 0.5)  # rewrite trial 1 itself, unchanged
    report = report_data.build(load_runs(results), "lora", n_resamples=200)[0]

    cost = report.cost.set_index("experiment")
    hour = 92.3 / 3600
    assert list(cost.index) == ["lora/default"]  # the tuned runs count to the default they were tuned from
    assert cost.loc["lora/default", "search runs"] == 3 and abs(cost.loc["lora/default", "search CPU-h"] - 3 * hour) < 1e-9
    assert cost.loc["lora/default", "confirmation runs"] == 1
    assert abs(cost.loc["lora/default", "confirmation CPU-h"] - 2 * hour) < 1e-9  # 2 threads
    assert cost.loc["lora/default", "finals runs"] == 6 and abs(cost.loc["lora/default", "total CPU-h"] - 11 * hour) < 1e-9
    table = report_verdicts.cost_table(report)
    assert list(table["experiment"]) == ["lora/default", "all"] and table["finals"].iloc[1] == "0.15 h (6 runs)"

    markdown = runner.invoke(app, ["report", "--results", str(results), "--format", "markdown", "--resamples", "200"])
    assert "#### What the search cost" in markdown.output and "0.28 h" in markdown.output


def test_a_comparison_without_a_search_has_no_cost_table(tmp_path):
    results = tmp_path / "results"
    for seed in range(2):
        write_run(results, "lora/default", seed=seed, correct=[i < 10 for i in range(60)])
    report = report_data.build(load_runs(results), "lora", n_resamples=200)[0]
    assert report.cost.empty and report_verdicts.cost_table(report).empty
