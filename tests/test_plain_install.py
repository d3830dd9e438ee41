"""From a plain install, no checkout: the wheel of this project (built here, put first on the path so its
own files are what runs) in a folder far from the checkout. A user with a 30-line JSONL and the tiny
model runs `init` -> `sweep` -> `report` with three methods and gets a report comparing them; the
shipped experiments are package data, so `list` and `sweep --methods` find them too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASK = """name: doubling
data:
  files: rows.jsonl
  split: {valid: 4, test: 6, seed: 0}
prompt: "What is twice {n}?\\nAnswer:"
target: "Twice {n} is {answer}. The answer is {answer}."
gold: "{answer}"
scorer: numeric
"""


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory) -> Path:
    """The project's wheel unpacked into a folder: `python` with it first on PYTHONPATH runs the
    installed package (its package data included), not the checkout."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    (wheel,) = out.glob("peftbench-*.whl")
    site = out / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    return site


def _cli(site: Path, cwd: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "peftbench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_ships_the_experiments(wheel_path, tmp_path):
    shipped = wheel_path / "peftbench" / "experiments" / "minimath" / "lora" / "default" / "adapter_config.json"
    assert json.loads(shipped.read_text())["peft_type"] == "LORA"
    listed = _cli(wheel_path, tmp_path, "list", "--task", "minimath")
    assert listed.returncode == 0 and "lora/default" in listed.stdout and "ia3/default" in listed.stdout
    code = "import peftbench, sys; print(peftbench.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(wheel_path)},
                           cwd=tmp_path, capture_output=True, text=True).stdout
    assert where.startswith(str(wheel_path))  # the wheel, not the checkout


def test_init_sweep_report_on_your_own_jsonl(wheel_path, tmp_path, tiny_model_dir):
    user = tmp_path / "me"
    (user / "data").mkdir(parents=True)
    rows = [{"n": str(i), "answer": str(2 * i)} for i in range(1, 31)]
    (user / "data" / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (user / "data" / "task.yaml").write_text(TASK)
    init = _cli(wheel_path, user, "init", "--task-file", "data/task.yaml", "--methods", "lora,ia3,vera",
                "--model", str(tiny_model_dir))
    assert init.returncode == 0, init.stdout + init.stderr
    assert "next: peftbench sweep --task doubling" in init.stdout
    tiny = ["--set", "max_steps=2", "--set", "eval_steps=1", "--set", "batch_size=2", "--set", "batch_size_eval=4",
            "--set", "max_seq_length=64", "--set", "generation_kwargs.max_new_tokens=4",
            "--set", "overhead.repeats=0", "--set", "data.forgetting_size=2", "--set", "data.forgetting_max_tokens=16"]
    sweep = _cli(wheel_path, user, "sweep", "--task", "doubling", "--seeds", "0,1", "--jobs", "2", *tiny)
    assert sweep.returncode == 0, sweep.stdout[-3000:] + sweep.stderr[-3000:]
    assert len(list((user / "results" / "doubling").glob("*.json"))) == 8  # 3 methods + the baseline, 2 seeds
    report = _cli(wheel_path, user, "report", "--results", "results", "--task", "doubling", "--out", "report",
                  "--resamples", "200")
    assert report.returncode == 0, report.stdout + report.stderr
    summary = (user / "report" / "summary.md").read_text()
    for name in ("lora/default", "ia3/default", "vera/default", "base/zero-shot"):
        assert name in summary
