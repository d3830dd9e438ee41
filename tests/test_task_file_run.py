"""The manual's walk-through (docs/tasks-from-files.md) as a user types it, on the example task and the
tiny model: three shipped experiments copied under experiments/<task>/, `peftbench sweep --task-file`,
then `peftbench report`; the same sweep again skips every run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peftbench.analysis.predictions import iter_predictions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "unit-conversion" / "task.yaml"
METHODS = ("lora", "ia3", "ln_tuning")


def tiny_sets(model_dir: Path) -> list[str]:
    """The example's defaults shrunk to seconds on the tiny model, as --set options."""
    sets = {"model_id": str(model_dir), "max_steps": 2, "eval_steps": 1, "batch_size": 2, "batch_size_eval": 4,
            "max_seq_length": 64, "generation_kwargs.max_new_tokens": 4, "generation_kwargs.max_length": 64,
            "data.train_size": 16, "data.valid_size": 2, "data.test_size": 6, "data.forgetting_size": 2,
            "data.forgetting_max_tokens": 16}
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


def peftbench(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "peftbench", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """A user's project folder with the three experiments the manual copies; `datasets` caches in tmp."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    for method in METHODS:
        shutil.copytree(ROOT / "experiments" / "minimath" / method / "default",
                        tmp_path / "experiments" / "unit-conversion" / method / "default")
    return tmp_path


def test_sweep_then_report_on_the_example_task(user_folder, tiny_model_dir):
    sweep = ["sweep", "--task-file", str(EXAMPLE), "--save-adapter", *tiny_sets(tiny_model_dir)]
    peftbench(user_folder, *sweep)
    results = user_folder / "results" / "unit-conversion"
    assert sorted(p.name for p in results.glob("*.json")) == [f"{m}--default.json" for m in sorted(METHODS)]
    assert sorted(p.name for p in results.glob("*.adapter")) == [f"{m}--default.adapter" for m in sorted(METHODS)]

    record = json.loads((results / "lora--default.json").read_text())
    assert record["run_info"]["task"] == "unit-conversion" and record["train_info"]["status"] == "success"
    final = record["train_info"]["metrics"][-1]
    assert 0 <= final["test accuracy"] <= 1 and final["drift"] >= 0
    info = record["meta_info"]["dataset_info"]
    assert info["task_file"] == str(EXAMPLE) and info["rows"] == {"train": 400, "valid": 32, "test": 100}
    assert info["used"] == {"train": 16, "valid": 2, "test": 6} and info["forgetting"]["source"] == "pydoc_data.topics"
    predictions = list(iter_predictions(results / "lora--default.predictions.jsonl"))
    assert [p["id"] for p in predictions] == [f"test-{i:03d}" for i in range(6)]
    assert predictions[0]["prompt"] == "Convert 60 months to years.\nAnswer:" and predictions[0]["gold"] == "5"

    report = peftbench(user_folder, "report", "--task", "unit-conversion", "--resamples", "200")
    html = (user_folder / "report" / "report.html").read_text()
    assert "report.html" in report.stdout and "unit-conversion" in html
    assert all(method in html for method in METHODS) and (user_folder / "report" / "summary.md").is_file()

    again = peftbench(user_folder, *sweep)
    assert "3 runs planned: 0 to run, 3 skipped" in again.stdout
