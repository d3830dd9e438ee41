"""What the dashboard shows, without a browser: runs table, filters on it, Pareto plot, item tables."""

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from peftbench.analysis.filters import InvalidFilter
from peftbench.dashboard import figure, items, view
from peftbench.records.record import ResultRecord
from peftbench.records.results import write_run

MB = 2**20


def _runs(**extra):
    frame = pd.DataFrame({
        "task": ["minimath"] * 4 + ["other"],
        "model": ["m"] * 5,
        "source": ["peftbench"] * 5,
        "method": ["lora", "ia3", "vera", "lora", "lora"],
        "experiment": ["lora/a", "ia3/a", "vera/a", "lora/b", "lora/a"],
        "seed": pd.array([0, 0, 0, 1, 0], dtype="Int64"),
        "status": ["success", "success", "success", "cancelled", "success"],
        "test accuracy": [0.5, 0.4, 0.2, 0.9, 0.1],
        "forgetting": [0.05, math.nan, 0.01, 0.0, 0.0],
        "accelerator_memory_max": [100 * MB, 50 * MB, 80 * MB, 1 * MB, 1 * MB],
        "num_trainable_params": [1000.0, 10.0, 5.0, 1.0, 1.0],
        "drift": [math.nan] * 5,  # no run has it: no column
    })
    for key, value in extra.items():
        frame[key] = value
    return frame


def test_select_keeps_successes_of_the_task():
    chosen = view.select(_runs(), "minimath", None)
    assert chosen["experiment"].tolist() == ["lora/a", "ia3/a", "vera/a"]  # the cancelled run is no result
    assert view.tasks(_runs()) == ["minimath", "other"]
    assert view.models(_runs(), "minimath") == ["m"]
    two_models = _runs(model=["m", "n", "m", "m", "m"])
    assert view.models(two_models, "minimath") == [view.ALL_MODELS, "m", "n"]
    assert view.select(two_models, "minimath", "n")["experiment"].tolist() == ["ia3/a"]


def test_table_view_headers_units_and_missing_values():
    runs = view.select(_runs(), "minimath", None)
    table = view.table_view(runs)
    # model and source are the same for all rows: left out; drift has no value at all: left out
    assert list(table.columns) == ["experiment", "method", "seed", "test accuracy %", "forgetting",
                                   "train memory peak MB", "trainable parameters"]
    assert table["test accuracy %"].tolist() == [50.0, 40.0, 20.0]  # in %, as the report writes it
    assert view.table_view(runs.iloc[::-1])["experiment"].tolist() == ["lora/a", "ia3/a", "vera/a"]  # best first
    assert table["train memory peak MB"].tolist() == [100.0, 50.0, 80.0]
    assert table["trainable parameters"].tolist() == [1000, 10, 5]
    assert math.isnan(table.loc[1, "forgetting"])  # missing stays missing ...
    assert view.cells(table).loc[1, "forgetting"] is None  # ... and shows as an empty cell
    assert table.index.equals(runs.index)


def test_filter_on_headers_and_record_keys():
    runs = view.select(_runs(), "minimath", None)
    kept, shown = view.filtered(runs.iloc[::-1], "train memory peak MB <= 80")
    assert kept["experiment"].tolist() == ["ia3/a", "vera/a"] and shown.index.equals(kept.index)
    kept, _ = view.filtered(runs, "accelerator_memory_max > 60 and not method == vera")  # the record's key
    assert kept["experiment"].tolist() == ["lora/a"]
    assert len(view.filtered(runs, "")[0]) == 3
    with pytest.raises(InvalidFilter, match="unknown column 'status'"):  # only shown columns filter
        view.filtered(runs, "status == success")


def test_headline_counts_and_never_crowns_a_single_seed():
    """The headline says what is shown (and that tuning trials are not); the answer sentence above the
    table, from the verdicts, is the finding: a best single seed is none."""
    runs = view.select(_runs(), "minimath", None)
    kept, _ = view.filtered(runs, "train memory peak MB <= 80")
    assert view.headline(kept, len(runs)) == "2 of 3 runs shown"
    assert view.headline(kept, 3, "experiments", trials=12) == ("2 of 3 experiments shown; 12 tuning trial runs not "
                                                                 "shown (they chose on the validation split)")
    assert view.markdown_text("*x* [a](b) `c` <i>") == "\\*x\\* \\[a\\](b) \\`c\\` \\<i\\>"


def test_a_percent_column_filters_by_fraction_or_percent():
    runs = view.select(_runs(), "minimath", None)
    assert view.filtered(runs, "test accuracy >= 30%")[0]["experiment"].tolist() == ["lora/a", "ia3/a"]
    assert view.filtered(runs, "test accuracy >= 0.3")[0]["experiment"].tolist() == ["lora/a", "ia3/a"]


def test_an_empty_results_folder_shows_an_empty_page(tmp_path):
    from peftbench.analysis.load import load_runs

    runs = view.select(load_runs([tmp_path]), None, None)
    assert view.tasks(runs) == [] and view.metric_columns(runs) == [] and figure.default_axes([]) == (None, None)
    kept, shown = view.filtered(runs, "")
    assert kept.empty and shown.empty and view.run_choices(runs) == [] and view.samples_images(runs) == []


def test_pareto_figure_marks_the_front():
    runs = view.select(_runs(), "minimath", None)
    plot = figure.pareto_figure(runs, "accelerator_memory_max", "test accuracy")
    others, front = plot.data
    assert sorted(front.customdata) == ["ia3/a (seed 0)", "lora/a (seed 0)"] and list(front.text) == ["ia3", "lora"]
    assert list(others.customdata) == ["vera/a (seed 0)"]
    assert list(front.x) == [50.0, 100.0]  # in MB, sorted along x so the line is a staircase
    assert plot.layout.title.text == "2 of 3 runs on the front"
    assert list(front.y) == [40.0, 50.0]  # accuracy in %
    assert "lower is better" in plot.layout.xaxis.title.text
    assert "higher is better" in plot.layout.yaxis.title.text
    with_gap = figure.pareto_figure(runs, "forgetting", "test accuracy")
    assert "(1 without both figures not shown)" in with_gap.layout.title.text
    assert figure.pareto_figure(runs, "trainable parameters", "drift").layout.title.text == "no runs with these metrics"


def test_per_experiment_rows_average_seeds_with_an_interval():
    runs = pd.DataFrame({"source": ["p"] * 4, "task": ["t"] * 4, "model": ["m"] * 4,
                         "method": ["lora", "lora", "lora", "ia3"], "experiment": ["lora/a"] * 3 + ["ia3/a"],
                         "seed": pd.array([0, 1, 2, 0], dtype="Int64"), "test accuracy": [0.4, 0.5, 0.6, 0.3],
                         "accelerator_memory_max": [10 * MB, 10 * MB, 13 * MB, 5 * MB]})
    experiments = view.per_experiment(runs)
    lora = experiments.set_index("experiment").loc["lora/a"]
    assert lora["runs"] == 3 and lora["test accuracy"] == pytest.approx(0.5)
    assert lora["accelerator_memory_max"] == pytest.approx(11 * MB)
    # t interval, 2 degrees of freedom: 0.5 ± 4.303 * 0.1 / sqrt(3)
    assert lora["test accuracy ci_low"] == pytest.approx(0.5 - 0.2484, abs=1e-3)
    ia3 = experiments.set_index("experiment").loc["ia3/a"]
    assert math.isnan(ia3["test accuracy ci_low"])  # one seed: no interval, not ±0
    table = view.table_view(experiments)
    assert list(table.columns) == ["experiment", "method", "runs", "test accuracy %", "test accuracy % ci low",
                                   "test accuracy % ci high", "train memory peak MB"]
    assert view.metric_columns(experiments) == ["test accuracy", "accelerator_memory_max"]  # no CI axes
    kept, _ = view.filtered(experiments, "test accuracy % ci low > 20%")
    assert kept["experiment"].tolist() == ["lora/a"]
    plot = figure.pareto_figure(experiments, "accelerator_memory_max", "test accuracy")
    front = plot.data[1]  # both are on the front: ia3 uses less memory, lora is more accurate
    assert list(front.customdata) == ["ia3/a", "lora/a"]
    assert front.error_y.array[1] == pytest.approx(24.84, abs=0.1)  # in points, like the axis
    assert math.isnan(front.error_y.array[0])


def test_default_axes_and_log_scale():
    assert figure.default_axes(["test accuracy", "forgetting", "train_time", "accelerator_memory_max"]) == \
        ("accelerator_memory_max", "test accuracy")
    both = ["test accuracy", "accelerator_memory_max", "accounted_memory_max"]  # CPU runs: accounted memory on x
    assert figure.default_axes(both, "accounted_memory_max") == ("accounted_memory_max", "test accuracy")
    assert figure.default_axes(both) == ("accelerator_memory_max", "test accuracy")
    assert figure.default_axes(["forgetting", "drift"]) == ("drift", "forgetting")
    assert figure.default_axes([]) == (None, None)
    runs = view.select(_runs(), "minimath", None)
    assert figure.pareto_figure(runs, "num_trainable_params", "test accuracy").layout.xaxis.type == "log"


@pytest.fixture()
def two_runs(tmp_path):
    paths = {}
    for stem, answers in [("lora--a", ["1", "2", "3"]), ("ia3--a", ["1", "5", "3"])]:
        record = {"run_info": {"experiment_name": stem.replace("--", "/")},
                  "train_info": {"status": "success", "metrics": [{"test accuracy": 0.5}]}}
        rows = [{"id": f"q{i}", "prompt": f"question {i}", "gold": str(i + 1), "prediction": f"so {a}",
                 "extracted": a, "correct": a == str(i + 1)} for i, a in enumerate(answers)]
        path = write_run(ResultRecord.model_validate(record), rows, tmp_path / "results", "minimath", stem)
        paths[stem] = str(path.with_name(f"{stem}.predictions.jsonl"))
    return paths


def test_items_and_side_by_side(two_runs):
    single = items.items(two_runs["lora--a"])
    assert list(single.columns) == ["id", "question", "gold", "prediction", "extracted", "correct"]
    assert single["question"].tolist() == ["question 0", "question 1", "question 2"]
    both = items.side_by_side(two_runs["lora--a"], two_runs["ia3--a"])
    assert list(both.columns) == ["id", "question", "gold", "prediction A", "extracted A", "correct A",
                                  "prediction B", "extracted B", "correct B"]
    assert len(both) == 3
    differing = items.side_by_side(two_runs["lora--a"], two_runs["ia3--a"], only_differing=True)
    assert differing[["id", "extracted A", "extracted B"]].values.tolist() == [["q1", "2", "5"]]


def _sidecar(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_items_of_an_image_task_and_of_several_test_sets(tmp_path):
    # an image task: no gold or answers, a similarity per item; two test sets reuse item ids
    a = _sidecar(tmp_path / "a.predictions.jsonl", [
        {"id": "0", "test_set": "test", "prompt": "a sks cat", "similarity": 0.8, "extracted": None},
        {"id": "0", "test_set": "drift", "prompt": "a cat", "similarity": None, "extracted": None}])
    b = _sidecar(tmp_path / "b.predictions.jsonl", [
        {"id": "0", "test_set": "test", "prompt": "a sks cat", "similarity": 0.6, "extracted": None},
        {"id": "0", "test_set": "drift", "prompt": "a cat", "similarity": None, "extracted": None}])
    assert list(items.items(a).columns) == ["test_set", "id", "question", "similarity"]
    both = items.side_by_side(a, b)
    assert list(both.columns) == ["test_set", "id", "question", "similarity A", "similarity B"]
    assert len(both) == 2  # matched on (test_set, id), not crossed
    # the missing similarity of both runs on the drift item is no difference
    assert items.side_by_side(a, b, only_differing=True)["test_set"].tolist() == ["test"]
    assert items.side_by_side(a, a, only_differing=True).empty


def test_run_choices_and_image_samples(tmp_path, two_runs):
    runs = pd.DataFrame({"run": ["lora--a", "ia3--a", "x"], "experiment": ["lora/a", "ia3/a", "x"],
                         "seed": pd.array([0, 0, None], dtype="Int64"), "source": ["peftbench"] * 3,
                         "predictions_path": [two_runs["lora--a"], two_runs["ia3--a"], None],
                         "path": [str(tmp_path / "results/minimath/lora--a.json"), "nowhere.json", "x.json"]})
    assert view.run_choices(runs) == [("ia3--a", two_runs["ia3--a"]), ("lora--a", two_runs["lora--a"])]
    image = tmp_path / "results/minimath/lora--a.samples.png"
    image.write_bytes(b"\x89PNG")
    assert view.samples_images(runs) == [(str(image), "lora/a (seed 0)")]


def test_cli_rejects_a_missing_results_folder(tmp_path):
    from peftbench.cli import app

    result = CliRunner().invoke(app, ["dashboard", "--results", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert f"--results {tmp_path / 'nope'}: no such file or folder" in result.output


def test_reader_side_never_imports_torch():
    """The dashboard (gradio included) must start on a machine without the training stack."""
    code = ("import sys, peftbench.dashboard.app, peftbench.cli.dashboard, peftbench.analysis.pareto; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'peftbench.pipeline') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_csv_export_names_its_file_from_a_plain_task_only(tmp_path):
    """The task arrives from the browser: a value that is not a plain name never becomes a path part."""
    from peftbench.dashboard.app import Results

    results = Results([tmp_path])
    table = pd.DataFrame({"experiment": ["lora/a"], "test accuracy": [0.5]})
    good = results.export("minimath", table)
    assert good.endswith("peftbench-minimath-filtered.csv")
    evil = results.export("../../escaped", table.assign(seed=1))
    assert evil.endswith("peftbench-runs-filtered.csv") and str(results.export_dir) in evil
    assert pd.read_csv(evil)["seed"].tolist() == [1]
