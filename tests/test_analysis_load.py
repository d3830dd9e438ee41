"""Reading result files into tables: ours, the reference's, and whatever else lies in the folder.

`write_run` below builds records with the shape of a real `peftbench run` output (copied from a
4-step ia3 run on minimath); test_stats / test_report / test_import import it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from peftbench.analysis.load import load_curves, load_predictions, load_runs
from reference_data import REFERENCE, needs_reference  # noqa: F401 (re-exported to other test files)


def record(experiment: str, seed: int = 0, task: str = "minimath", acc: float | None = 0.5,
           forgetting: float | None = 0.03, status: str = "success", metric: str = "accuracy",
           memory: float = 7e8, train_time: float = 20.0, file_size: int = 246_902) -> dict:
    method = experiment.split("/")[0]
    peft = None if method == "full-finetuning" else {"peft_type": method.upper(), "r": 8}
    final = {"step": 4, "train loss": 0.38, "train samples": 16, "train total tokens": 961, "drift": 0.02}
    if acc is not None:
        final[f"test {metric}"] = acc
    if forgetting is not None:
        final["forgetting"] = forgetting
    steps = [{"step": s, "train loss": 1.0 / s, "train samples": 4 * s, "tokens / sec": 40.0 + s,
              f"valid {metric}": 0.1 * s, "elapsed time": 5.0 * s} for s in (2, 4)]
    return {
        "run_info": {"created_at": "2026-11-28T16:05:33+00:00", "total_time": 92.3, "experiment_name": experiment,
                     "task": task, "train_config": {"model_id": "embedded:SmolLM2-135M-Instruct", "seed": seed},
                     "peft_config": peft, "seed": seed, "config_hash": f"hash-{experiment}-{seed}",
                     "peftbench_version": "0.1.0", "extractor_version": "1", "git": {}, "error_msg": ""},
        "train_info": {"status": status, "train_time": train_time, "total_time": 92.3,
                       "accelerator_memory_max": memory, "accelerator_memory_reserved_avg": memory * 0.7,
                       "accelerator_memory_reserved_99th": memory * 0.9, "memory_kind": "cpu-rss",
                       "eval_memory_max": 167936, "file_size": file_size, "num_trainable_params": 57600,
                       "num_total_params": 134572608, "metrics": steps + ([final] if status == "success" else [])},
        "meta_info": {"model_info": {}, "dataset_info": {}, "package_info": {}, "system_info": {}},
    }


def reference_record(experiment: str, acc: float, memory: float = 2e10) -> dict:
    """A record in the reference suite's own schema: no peftbench fields, total_time in run_info only."""
    data = record(experiment, acc=acc, memory=memory)
    info = data["run_info"]
    for key in ("task", "seed", "config_hash", "peftbench_version", "extractor_version", "git"):
        del info[key]
    info["train_config"]["model_id"] = "meta-llama/Llama-3.2-3B"
    for key in ("total_time", "memory_kind", "eval_memory_max"):
        del data["train_info"][key]
    return data


def write_run(folder: Path, experiment: str, seed: int = 0, correct: list[bool] | None = None,
              task: str = "minimath", **kwargs) -> Path:
    """A result file (+ predictions sidecar when `correct` is given) under `folder/<task>/`."""
    stem = experiment.replace("/", "--") + (f"--seed{seed}" if seed else "")
    path = folder / task / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if correct is not None:
        kwargs.setdefault("acc", sum(correct) / len(correct))
        rows = [{"id": f"{task}-test-{i}", "prompt": f"Q{i}", "gold": "1", "prediction": "1" if c else "2",
                 "extracted": "1" if c else "2", "correct": c, "test_set": task} for i, c in enumerate(correct)]
        path.with_name(f"{stem}.predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path.write_text(json.dumps(record(experiment, seed, task, **kwargs)))
    return path


def test_our_records_become_one_row_per_run(tmp_path):
    write_run(tmp_path, "ia3/default", correct=[True, False, True, True])
    write_run(tmp_path, "ia3/default", seed=1, acc=0.25)
    write_run(tmp_path, "full-finetuning/default", acc=0.4)
    runs = load_runs(tmp_path).sort_values(["experiment", "seed"]).reset_index(drop=True)
    assert list(runs["experiment"]) == ["full-finetuning/default", "ia3/default", "ia3/default"]
    assert list(runs["method"]) == ["full-finetuning", "ia3", "ia3"]
    assert list(runs["seed"]) == [0, 0, 1]
    assert set(runs["source"]) == {"peftbench"} and set(runs["task"]) == {"minimath"}
    assert runs.loc[1, "test accuracy"] == 0.75 and runs.loc[2, "test accuracy"] == 0.25
    assert runs.loc[1, "predictions_path"].endswith("ia3--default.predictions.jsonl")
    assert pd.isna(runs.loc[2, "predictions_path"])
    assert runs.loc[1, "tokens / sec"] == 43.0  # mean of the windows 42 and 44
    assert runs.loc[1, "model"] == "embedded:SmolLM2-135M-Instruct"
    assert runs.loc[1, "config_hash"] == "hash-ia3/default-0"
    for column in ("train_time", "accelerator_memory_max", "file_size", "num_trainable_params", "forgetting", "drift"):
        assert runs[column].notna().all(), column


def test_missing_metrics_are_nan_never_zero(tmp_path):
    write_run(tmp_path, "lora/default", forgetting=None)
    path = write_run(tmp_path, "ia3/default")
    data = json.loads(path.read_text())
    del data["train_info"]["file_size"]
    path.write_text(json.dumps(data))
    runs = load_runs(tmp_path).set_index("experiment")
    assert math.isnan(runs.loc["lora/default", "forgetting"])
    assert math.isnan(runs.loc["ia3/default", "file_size"])
    assert runs.loc["ia3/default", "forgetting"] == 0.03


def test_cancelled_run_has_status_and_no_test_metrics(tmp_path):
    write_run(tmp_path, "lora/default", status="failed")
    runs = load_runs(tmp_path)
    assert runs.loc[0, "status"] == "failed"
    assert "test accuracy" not in runs  # the run never reached the test: no column, no made-up value
    assert runs.loc[0, "train_time"] == 20.0


def test_corrupt_and_foreign_files_are_skipped_with_a_warning(tmp_path):
    good = write_run(tmp_path, "lora/default")
    folder = good.parent
    (folder / "broken.json").write_text('{"run_info": {')
    (folder / "list.json").write_text("[1, 2]")
    (folder / "foreign.json").write_text('{"name": "something else"}')
    (folder / "typed.json").write_text('{"run_info": [], "train_info": {}}')
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')  # a config, not foreign: no warning
    (folder / ".lora--x.json.123.tmp").write_text("{")  # an atomic write in progress
    messages = []
    runs = load_runs(tmp_path, warn=messages.append)
    assert list(runs["experiment"]) == ["lora/default"]
    named = sorted(Path(m.split()[1].rstrip(":")).name for m in messages)
    assert named == ["binary.json", "broken.json", "foreign.json", "list.json", "typed.json"], messages


def test_default_warning_is_a_python_warning(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.warns(UserWarning, match="broken.json"):
        runs = load_runs(tmp_path)
    assert runs.empty and "test accuracy" not in runs


def test_task_filter_files_and_folders_together(tmp_path):
    lora = write_run(tmp_path, "lora/default")
    write_run(tmp_path, "lora/default", task="other")
    assert list(load_runs(tmp_path, task="other")["task"]) == ["other"]
    both = load_runs([tmp_path, lora])  # the file is inside the folder too: read once
    assert len(both) == 2


def test_reference_schema_is_labelled_and_mapped(tmp_path):
    folder = tmp_path / "MetaMathQA" / "results"  # upstream layout: <task>/results/<file>.json
    folder.mkdir(parents=True)
    data = reference_record("lora/llama-3.2-3B-rank32", acc=0.478)
    data["train_info"]["metrics"][-1]["test dino_similarity"] = 0.7
    (folder / "lora--llama-3.2-3B-rank32.json").write_text(json.dumps(data))
    (run,) = load_runs(tmp_path).to_dict("records")
    assert (run["source"], run["task"], run["model"]) == ("reference", "metamathqa", "meta-llama/Llama-3.2-3B")
    assert run["seed"] == 0 and pd.isna(run["config_hash"])  # seed from train_config; no hash there
    assert run["total_time"] == 92.3 and run["test similarity"] == 0.7
    assert "eval_memory_max" not in run  # not in the reference schema: no column, no made-up value


@needs_reference
def test_reference_files_map_onto_the_same_columns():
    runs = load_runs(REFERENCE)
    assert len(runs) == 94
    assert runs.groupby("task").size().to_dict() == {"image-gen": 31, "metamathqa": 63}
    assert set(runs["source"]) == {"reference"}
    math_runs = runs[runs["task"] == "metamathqa"]
    assert math_runs["test accuracy"].between(0, 1).all()
    assert (math_runs["model"] == "meta-llama/Llama-3.2-3B").all()
    image = runs[runs["task"] == "image-gen"]
    assert image["test similarity"].notna().all()  # the reference's `test dino_similarity`
    assert image["forgetting"].isna().all()  # never recorded there: NaN, not a placeholder
    assert runs["total_time"].notna().all()  # kept in run_info by the reference
    lora = runs[runs["experiment"] == "lora/llama-3.2-3B-rank32"].iloc[0]
    assert lora["method"] == "lora" and lora["seed"] == 0 and lora["status"] == "success"
    assert lora["file_size"] > 0 and lora["accelerator_memory_max"] > 1e9
    assert (runs[runs["experiment"].str.startswith("full-finetuning")]["method"] == "full-finetuning").all()


def test_curves_one_row_per_logged_step(tmp_path):
    paths = [write_run(tmp_path, "lora/default"), write_run(tmp_path, "lora/default", seed=1)]
    curves = load_curves(paths)
    assert len(curves) == 4  # two logged steps each; the final test row is not a curve point
    assert list(curves["step"]) == [2, 4, 2, 4] and list(curves["seed"]) == [0, 0, 1, 1]
    assert {"train loss", "valid accuracy", "tokens / sec"} <= set(curves.columns)
    assert curves["valid accuracy"].tolist() == pytest.approx([0.2, 0.4, 0.2, 0.4])


def test_predictions_from_sidecar_or_result_path(tmp_path):
    path = write_run(tmp_path, "lora/default", correct=[True, False])
    by_json = load_predictions(path)
    by_sidecar = load_predictions(path.with_name("lora--default.predictions.jsonl"))
    assert by_json.equals(by_sidecar)
    assert list(by_json["correct"]) == [True, False]
    assert {"id", "prompt", "gold", "prediction", "extracted", "correct"} <= set(by_json.columns)


def test_bad_predictions_name_the_file(tmp_path):
    path = write_run(tmp_path, "lora/default", correct=[True])
    sidecar = path.with_name("lora--default.predictions.jsonl")
    sidecar.write_text('{"id": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"predictions.jsonl: line 2"):
        load_predictions(sidecar)
    with pytest.raises(ValueError, match="cannot read predictions"):
        load_predictions(tmp_path / "missing.json")
