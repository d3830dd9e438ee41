"""`peftbench report`: the HTML / PNG / Markdown report, the terminal table, its wording, bad input."""

from __future__ import annotations

import json

import pandas as pd
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peftbench.analysis import report
from peftbench.analysis.load import load_runs
from peftbench.cli import app
from test_analysis_load import reference_record, write_run

runner = CliRunner()


def _sweep(folder: Path) -> Path:
    """2 methods x 2 seeds with sidecars (ia3 right on every item, lora on none), and one single run."""
    for seed in (0, 1):
        write_run(folder, "lora/default", seed=seed, correct=[False] * 30, memory=9e8, train_time=25.0)
        write_run(folder, "ia3/default", seed=seed, correct=[True] * 30, memory=7e8, train_time=20.0)
    write_run(folder, "vera/default", correct=[False] * 29 + [True], memory=6e8, train_time=30.0, forgetting=None)
    return folder


def _published(folder: Path) -> Path:
    """Reference-schema files in the reference's layout (MetaMathQA/<file>.json)."""
    target = folder / "MetaMathQA"
    target.mkdir(parents=True)
    for name, acc in (("lora/llama-3.2-3B-rank32", 0.478), ("ia3/llama-3.2-3B-default", 0.31), ("boft/llama-3.2-3B-default", 0.34)):
        (target / (name.replace("/", "--") + ".json")).write_text(json.dumps(reference_record(name, acc)))
    return folder


def test_report_files_for_a_sweep_with_reference_numbers(tmp_path):
    results = _sweep(tmp_path / "results")
    reference = _published(tmp_path / "ref")
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--results", str(results), "--results", str(reference),
                                 "--out", str(out), "--resamples", "1000"])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    markdown = (out / "summary.md").read_text()
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    # two validation windows per run show no curve's shape: no learning-curve figure (test_curves_... below)
    assert figures == ["minimath-leaderboard.png", "minimath-pareto.png", "minimath-reference.png"]
    for png in (out / "figures").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # Offline: plotly.js inlined exactly once, no script or stylesheet fetched from the network.
    assert html.count("plotly.js v") >= 1 and len(html) > 3_000_000
    assert not re.search(r"<script[^>]+src=\"http", html)
    # The leaderboard with CIs, best first, and the paired comparison in strict words.
    assert markdown.index("| ia3/default") < markdown.index("| vera/default") < markdown.index("| lora/default")
    assert "100.0% [100.0%, 100.0%]" in markdown  # two seeds: an interval
    assert "3.3% (1 run, no CI)" in markdown  # one seed: said so, not ±0
    assert "+100.0 pts [+100.0, +100.0]: better than lora/default" in markdown
    # One seed never makes a claim, whatever its interval.
    assert "+3.3 pts" in markdown and "cannot decide (1 vs 2 seeds; a verdict needs 2+ on each side)" in markdown
    assert "Better: ia3/default. Worse: none." in markdown and "Cannot decide (too few seeds or no predictions): vera/default" in markdown
    assert "### Verdicts" in markdown and "noise floor: seed-to-seed standard deviation 0.0 pts, pooled over 2 experiments" in markdown
    # Reference numbers, labelled as such, only for methods we ran.
    assert "reference: meta-llama/Llama-3.2-3B, different hardware" in markdown
    assert "lora/llama-3.2-3B-rank32" in markdown and "boft/llama-3.2-3B-default" not in markdown
    assert "![Trade-offs (Pareto fronts)](figures/minimath-pareto.png)" in markdown
    assert "report.html" in result.output


def test_pareto_flags_and_missing_values_in_the_leaderboard(tmp_path):
    runs = load_runs(_sweep(tmp_path))
    (task,) = report.build(runs, n_resamples=200)
    board = task.summary.set_index("experiment")
    assert list(task.summary["experiment"]) == ["ia3/default", "vera/default", "lora/default"]
    front = task.fronts["accelerator_memory_max"]
    # ia3: better accuracy, less memory than lora; vera: least memory -> both on the memory front.
    assert dict(zip(task.summary["experiment"], front)) == {"ia3/default": True, "lora/default": False, "vera/default": True}
    assert task.trade_offs == ["accelerator_memory_max", "train_time", "file_size", "forgetting"]
    assert board.loc["vera/default", "forgetting n"] == 0
    rows = report.leaderboard(task).set_index("experiment")
    assert rows.loc["vera/default", "forgetting (Δ cross-entropy)"] == ""  # empty, never a made-up value


def test_format_table_prints_the_leaderboard(tmp_path):
    result = runner.invoke(app, ["report", "--results", str(_sweep(tmp_path)), "--format", "table",
                                 "--resamples", "200", "--out", str(tmp_path / "never")])
    assert result.exit_code == 0, result.output
    assert "ia3/default" in result.output and "95% CI" in result.output
    assert not (tmp_path / "never").exists()


def test_image_task_similarity_samples_and_paired_images(tmp_path):
    """An image task: main metric `test similarity`, per-image scores in the sidecar, sample grids."""
    results = tmp_path / "results"
    for name, scores in (("lora/default", [0.60, 0.70, 0.65, 0.62]), ("oft/default", [0.61, 0.72, 0.64, 0.65])):
        path = write_run(results, name, task="minigen", metric="similarity", acc=sum(scores) / 4, forgetting=None)
        rows = [{"id": f"test-{i}", "test_set": "test", "prompt": "a photo of sks cat", "seed": i, "similarity": v}
                for i, v in enumerate(scores)]
        rows.append({"id": "drift-0", "test_set": "drift", "prompt": "a cat", "seed": 0, "drift": 0.3})
        path.with_name(path.stem + ".predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        _png(path.with_name(path.stem + ".samples.png"))  # a sample grid, as the image task writes one
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--results", str(results), "--out", str(out), "--resamples", "500"])
    assert result.exit_code == 0, result.output
    markdown = (out / "summary.md").read_text()
    assert "main metric similarity" in markdown and "0.655 (1 run, no CI)" in markdown
    assert "+0.013 [" in markdown and "cannot decide (1 vs 1 seeds" in markdown  # one run each: no claim
    assert "pts" not in markdown  # a similarity difference is not in percentage points
    assert "![lora--default](figures/minigen-samples/lora--default.samples.png)" in markdown
    assert (out / "figures" / "minigen-samples" / "oft--default.samples.png").is_file()
    html = (out / "report.html").read_text()
    assert html.count("alt=\"samples of ") == 2 and "<img src=\"data:image/png;base64," in html


def _png(path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    fig.savefig(path)
    plt.close(fig)


@pytest.mark.parametrize("args, expected", [
    (["--results", "{tmp}/missing"], "--results {tmp}/missing: no such file or folder"),
    (["--results", "{tmp}/empty"], "no result files found"),
    (["--results", "{tmp}/sweep", "--task", "nope"], "--task 'nope': no result files of this task"),
    (["--results", "{tmp}/sweep", "--reference", "dora"], "--reference 'dora': no such experiment or method"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    (tmp_path / "empty").mkdir()
    _sweep(tmp_path / "sweep")
    args = [a.format(tmp=tmp_path) for a in args]
    result = runner.invoke(app, ["report", *args, "--out", str(tmp_path / "out"), "--format", "table"])
    assert result.exit_code == 2, result.output
    assert expected.format(tmp=tmp_path) in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_reader_never_imports_torch(tmp_path):
    """The reader side starts without the training stack. The subprocess imports every reader module
    (figures and HTML included) and runs `peftbench report --format table`; rendering the files adds
    no imports beyond those modules, and would only make this test slower."""
    _sweep(tmp_path / "results")
    code = (
        "import sys\n"
        "import peftbench.analysis.load, peftbench.analysis.stats, peftbench.analysis.importer\n"
        "import peftbench.analysis.report, peftbench.analysis.report_figures, peftbench.analysis.report_html\n"
        "from peftbench.cli import app\n"
        f"try:\n    app(['report', '--results', {str(tmp_path / 'results')!r}, '--format', 'table', '--resamples', '200'])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "banned = [m for m in ('torch', 'peftbench.pipeline', 'peftbench.text.models', 'peftbench.training.sft') if m in sys.modules]\n"
        "print('BANNED', banned)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "ia3/default" in out.stdout, out.stdout + out.stderr
    assert "BANNED []" in out.stdout, out.stdout + out.stderr


def test_accuracy_intervals_stay_within_0_and_1(tmp_path):
    write_run(tmp_path, "ia3/default", acc=0.5)
    write_run(tmp_path, "ia3/default", seed=1, acc=0.1)  # t(0.975, df=1) = 12.7: raw interval [-224%, 284%]
    (task,) = report.build(load_runs(tmp_path), n_resamples=200)
    assert report.leaderboard(task).loc[0, "test accuracy (95% CI)"] == "30.0% [0.0%, 100.0%]"
    assert "clipped to 0-100%" in report.note(task, 200)


def test_equal_means_with_float_noise_do_not_make_a_front(tmp_path):
    for seed, (lora, ia3) in enumerate([(0.2, 0.5), (0.4, 0.1)]):  # means 0.30000000000000004 and 0.3
        write_run(tmp_path, "lora/default", seed=seed, acc=lora, memory=9e8)
        write_run(tmp_path, "ia3/default", seed=seed, acc=ia3, memory=7e8)
    (task,) = report.build(load_runs(tmp_path), n_resamples=200)
    on_front = dict(zip(task.summary["experiment"], task.fronts["accelerator_memory_max"]))
    assert on_front == {"ia3/default": True, "lora/default": False}


def _with_accounted(path: Path, accounted: float | None, kind: str = "cpu-rss") -> None:
    data = json.loads(path.read_text())
    data["train_info"]["memory_kind"] = kind
    if accounted is not None:
        data["train_info"]["accounted_memory_max"] = accounted
    path.write_text(json.dumps(data))


def test_cpu_runs_are_ranked_by_accounted_memory_cuda_runs_by_the_allocator(tmp_path):
    # RSS says lora < ia3; the accounted figures say ia3 < lora (as an accelerator would).
    for name, rss, accounted in (("lora/default", 6e8, 9e8), ("ia3/default", 8e8, 7e8)):
        _with_accounted(write_run(tmp_path / "cpu", name, correct=[True] * 3, memory=rss), accounted)
    (task,) = report.build(load_runs(tmp_path / "cpu"), n_resamples=100)
    assert task.memory == "accounted_memory_max" and task.trade_offs[0] == "accounted_memory_max"
    assert dict(zip(task.summary["experiment"], task.fronts["accounted_memory_max"]))["ia3/default"]
    board = report.leaderboard(task)
    assert "train memory peak (accounted)" in board and "train memory peak" not in board
    assert "Training memory is accounted" in report.note(task, 100)
    # On CUDA (or when a run lacks the accounted figure) the allocator's figure ranks them.
    for name in ("lora/default", "ia3/default"):
        _with_accounted(write_run(tmp_path / "cuda", name, correct=[True] * 3), 1e8, kind="cuda-reserved")
    write_run(tmp_path / "old", "lora/default", correct=[True] * 3)
    _with_accounted(write_run(tmp_path / "old", "ia3/default", correct=[True] * 3), 1e8)
    for folder in ("cuda", "old"):
        (task,) = report.build(load_runs(tmp_path / folder), n_resamples=100)
        assert task.memory == "accelerator_memory_max" and task.trade_offs[0] == "accelerator_memory_max", folder


def test_a_saved_capability_matrix_is_a_section_of_the_report(tmp_path):
    from peftbench.records.results import capabilities_path

    folder = _sweep(tmp_path / "results")
    yes, no = {"value": "yes", "detail": ""}, {"value": "no", "detail": "x"}
    matrix = {"lora/default": {"merge": yes, "switch": yes, "base": yes, "quantized": no, "layers": {"value": "Linear"}},
              "boft/default": {"merge": no, "switch": no, "base": no, "quantized": no, "layers": {"value": "Linear"}}}
    path = capabilities_path(folder, "minimath")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"task": "minimath", "experiments": matrix}))
    result = runner.invoke(app, ["report", "--results", str(folder), "--resamples", "200", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "r" / "summary.md").read_text()
    section = summary.split("### Capabilities", 1)[1]
    # Only the experiments of the report: lora/default is a run here, boft/default is not.
    assert "lora/default" in section and "boft/default" not in section
    assert "Capabilities" in (tmp_path / "r" / "report.html").read_text()
    assert "ResultFileWarning" not in result.output  # the hidden file is not mistaken for a record


def test_no_saved_matrix_no_capabilities_section(tmp_path):
    folder = _sweep(tmp_path / "results")
    result = runner.invoke(app, ["report", "--results", str(folder), "--resamples", "200", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0 and "### Capabilities" not in (tmp_path / "r" / "summary.md").read_text()


def test_curves_need_three_windows_and_show_the_best_few():
    from types import SimpleNamespace

    from peftbench.analysis.report_figures import MAX_CURVES, curve_experiments

    names = [f"m{i}/default" for i in range(12)]
    rows = [{"experiment": n, "step": step} for i, n in enumerate(names) for step in range(1, 2 + (i % 3) * 2)]
    report = SimpleNamespace(curves=pd.DataFrame(rows), summary=pd.DataFrame({"experiment": names}))
    chosen = curve_experiments(report)
    assert len(chosen) <= MAX_CURVES and all(int(n[1:].split("/")[0]) % 3 != 0 for n in chosen)  # 1 window: out
    assert chosen == [n for n in names if int(n[1:].split("/")[0]) % 3 != 0][:MAX_CURVES]  # best first, as ranked


def test_rl_runs_get_a_reward_curve_and_a_reward_that_never_rose_is_named():
    from types import SimpleNamespace

    from peftbench.analysis.report_figures import curve_columns
    from peftbench.metrics import REWARD

    rising = [0.1, 0.2, 0.3, 0.4]
    flat = [0.3, 0.2, 0.3, 0.25]  # second half 0.275, not above the first step's 0.3
    rows = [{"experiment": name, "step": step + 1, "seed": 0, "train loss": 0.0, REWARD.key: value}
            for name, line in (("lora/default", rising), ("vera/default", flat)) for step, value in enumerate(line)]
    rl = SimpleNamespace(curves=pd.DataFrame(rows), main="test accuracy",
                         summary=pd.DataFrame({"experiment": ["lora/default", "vera/default"]}))
    assert curve_columns(rl) == ["train loss", REWARD.key]
    assert report.flat_rewards(rl) == ["vera/default"]
    sft = SimpleNamespace(curves=pd.DataFrame([{k: v for k, v in r.items() if k != REWARD.key} for r in rows]),
                          main="test accuracy", summary=rl.summary)
    assert curve_columns(sft) == ["train loss"] and report.flat_rewards(sft) == []
