"""Golden records: a tiny text run and a tiny image run must produce the same record (minus timings,
memory and the machine) as the committed files in tests/golden/. They pin down behaviour across
refactors; a change that moves them on purpose regenerates them (PEFTBENCH_UPDATE_GOLDEN=1) and says why
in its commit."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from peftbench.telemetry.progress import Reporter
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run

GOLDEN = Path(__file__).parent / "golden"
LORA_TEXT = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
             "task_type": "CAUSAL_LM"}
LORA_IMAGE = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["to_q", "to_v"]}
TINY_MINIGEN = {
    "max_steps": 2, "eval_steps": 1, "batch_size": 2, "batch_size_eval": 16,
    "image": {"num_instance_images": 2, "num_inference_steps": 2, "test_seeds": 2, "valid_seeds": 2,
              "drift_seeds": 1, "grid_seeds": 2},
    "minigen": {"valid_size": 2, "test_size": 3, "feature_steps": 3, "base": {"steps": 3, "batch_size": 4}},
}
# What depends on the clock, the machine or the checkout rather than on the config and seed.
VOLATILE = {
    "created_at", "total_time", "train_time", "git", "peft_worktree_is_dirty", "peftbench_version", "package_info", "system_info",
    "pytorch_info", "accelerator_memory_max", "accelerator_memory_reserved_avg",
    "accelerator_memory_reserved_99th", "eval_memory_max", "train time", "eval time", "elapsed time",
    "tokens / sec", "samples / sec", "cache_key", "path", "pretrain_seconds",
    "config_hash",  # covers the tiny model's temporary path; test_shipped_config_hashes pins hashes
    "peft_version",  # peft writes its own version into peft_config: the environment, as package_info
    "inference", "generation overhead unmerged", "generation overhead merged",  # timings
}


def _normalise(value, replace: dict[str, str]):
    if isinstance(value, dict):
        return {k: _normalise(v, replace) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_normalise(v, replace) for v in value]
    if isinstance(value, str):
        for old, new in replace.items():
            value = value.replace(old, new)
    return value


# What a tolerance protects. Our own code decides splits, prompts, counts, hashes, config values, the
# predictions' text and the accuracies counted from it: those must match bit for bit. Libraries compute
# losses, cross entropies and similarities, which move with the CPU's vector unit and the BLAS: measured
# with benchmarks/golden_spread.py (docs/figures.md, "Golden records"), at most 2.0e-6 relative between
# torch's AVX2 and plain kernels on this machine, bit-identical across transformers 5.24.0/5.25.0 and
# thread counts. Forgetting and drift are differences of two such values (cross entropies near 10.75 in
# float32), so their error is absolute: measured at most 2.0e-6 (forgetting) and 1.2e-7 (drift).
LIBRARY_LEVELS = {"train loss", "nll", "base cross entropy", "tuned cross entropy", "similarity",
                  "valid similarity", "base similarity", "test similarity", "pretrain_final_loss"}
LEVEL_REL_TOL = 2e-5  # 10x the largest measured relative spread
DIFFERENCE_ABS_TOL = {"forgetting": 2e-5, "drift": 1e-6}  # about 10x the measured absolute spread


def _assert_close(actual, expected, where="record"):
    if where.endswith(".peft_config") and isinstance(actual, dict) and isinstance(expected, dict):
        # peft's own dump of its config class: a newer peft adds fields (0.22.0: LoRA's `astra_config`),
        # and one left at null changes no run. A new non-null value or a missing field still fails.
        actual = {k: v for k, v in actual.items() if k in expected or v is not None}
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), (
            f"{where}: keys differ: only actual {sorted(actual.keys() - expected.keys())}, "
            f"only golden {sorted(expected.keys() - actual.keys())}")
        for key in expected:
            _assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: lengths differ"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_close(a, e, f"{where}[{i}]")
    elif where.endswith(".file_size"):  # the saved adapter_config.json names the (temporary) base path
        assert abs(actual - expected) <= 256, f"{where}: {actual!r} != golden {expected!r}"
    elif isinstance(expected, (int, float)) and where.rsplit(".", 1)[-1] in LIBRARY_LEVELS | DIFFERENCE_ABS_TOL.keys():
        key = where.rsplit(".", 1)[-1]
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{where}: {actual!r} is no number"
        close = (math.isclose(actual, expected, rel_tol=LEVEL_REL_TOL) if key in LIBRARY_LEVELS
                 else abs(actual - expected) <= DIFFERENCE_ABS_TOL[key])
        assert close, f"{where}: {actual!r} != golden {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} != golden {expected!r}"


def _check(name: str, outcome, replace: dict[str, str]) -> None:
    assert outcome.status == "success", outcome.record.run_info.error_msg
    sidecar = outcome.path.with_name(outcome.path.stem + ".predictions.jsonl")
    actual = {
        "file": str(outcome.path.relative_to(outcome.path.parents[2])),
        "record": _normalise(json.loads(outcome.path.read_text()), replace),
        "predictions": [_normalise(json.loads(line), replace) for line in sidecar.read_text().splitlines()],
    }
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("PEFTBENCH_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    _assert_close(actual, json.loads(golden.read_text()))


def test_text_run_matches_golden_record(make_experiment, tiny_params, tiny_model_dir, tmp_path):
    folder = make_experiment(adapter=LORA_TEXT)
    outcome = execute(plan_run(folder, overrides=tiny_params), tmp_path / "results", Reporter(enabled=False))
    _check("minimath-lora", outcome, {str(tiny_model_dir): "<tiny-model>"})


@pytest.mark.slow
def test_image_run_matches_golden_record(make_experiment, tmp_path):
    folder = make_experiment("minigen", "lora", "t", adapter=LORA_IMAGE)
    outcome = execute(plan_run(folder, overrides=TINY_MINIGEN), tmp_path / "results", Reporter(enabled=False))
    _check("minigen-lora", outcome, {})


def test_shipped_config_hashes_match_golden():
    """The config hash decides which results a sweep skips: for shipped experiments it changes only
    when their configuration really changes."""
    names = ["minimath/lora/default", "minimath/full-finetuning/default", "metamathqa/lora/llama-3.2-3B-rank32",
             "minigen/lora/r4"]
    root = Path(__file__).parents[1] / "experiments"
    actual = {name: plan_run(root / name).config_hash for name in names}
    golden = GOLDEN / "config-hashes.json"
    if os.environ.get("PEFTBENCH_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert actual == json.loads(golden.read_text())
