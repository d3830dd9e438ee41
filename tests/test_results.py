import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from peftbench.records.record import ResultRecord, read_record
from peftbench.records.results import (
    atomic_write_json,
    atomic_write_jsonl,
    cancelled_dir,
    find_results,
    predictions_path,
    result_path,
    write_run,
)


def record(status="success", **train_info):
    return ResultRecord.model_validate({"run_info": {"experiment_name": "lora/default"},
                                        "train_info": {"status": status, **train_info}})


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*.tmp")]


def test_atomic_write_json_round_trips_without_temp_files(tmp_path):
    path = tmp_path / "new" / "deeper" / "r.json"  # parents are created
    data = {"a": 1, "b": [1.5, "x", None], "c": {"d": True}}
    atomic_write_json(path, data)
    assert json.loads(path.read_text()) == data
    assert leftovers(tmp_path) == []


def test_failed_write_keeps_previous_file_and_no_temp(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"old": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"new": object()})
    with pytest.raises(TypeError):
        atomic_write_jsonl(path, [{"ok": 1}, {"bad": object()}])
    assert json.loads(path.read_text()) == {"old": 1}
    assert leftovers(tmp_path) == []


def test_failure_during_file_write_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"old": 1})

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr("peftbench.records.results.os.fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert list(tmp_path.iterdir()) == [path]


def test_non_finite_floats_become_null(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"loss": math.nan, "rows": [math.inf, (-math.inf, 2.0)], "ok": 0.5})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"loss": None, "rows": [None, [None, 2.0]], "ok": 0.5}

    lines = tmp_path / "p.jsonl"
    atomic_write_jsonl(lines, [{"x": math.nan}, {"x": 1}])
    assert [json.loads(line) for line in lines.read_text().splitlines()] == [{"x": None}, {"x": 1}]


def test_cancelled_dir_is_a_prefixed_sibling():
    assert cancelled_dir(Path("results")) == Path("cancelled_results")
    assert cancelled_dir("/tmp/x") == Path("/tmp/cancelled_x")
    assert cancelled_dir("/tmp/x/") == Path("/tmp/cancelled_x")


def test_result_and_predictions_paths():
    assert result_path("res", "gsm8k", "lora--default", "success") == Path("res/gsm8k/lora--default.json")
    for status in ("cancelled", "failed"):
        assert result_path("res", "gsm8k", "s", status) == Path("cancelled_res/gsm8k/s.json")
    sidecar = predictions_path(Path("res/t/lora--a--seed1.json"))
    assert sidecar == Path("res/t/lora--a--seed1.predictions.jsonl")


def test_write_run_success_writes_sidecar_and_result(tmp_path):
    results = tmp_path / "results"
    rows = [{"id": 1, "prediction": "4", "correct": True}, {"id": 2, "prediction": "x", "correct": False}]
    path = write_run(record(), rows, results, "gsm8k", "lora--default")
    assert path == results / "gsm8k" / "lora--default.json"
    assert read_record(path).status == "success"
    sidecar = predictions_path(path)
    assert [json.loads(line) for line in sidecar.read_text().splitlines()] == rows
    assert not cancelled_dir(results).exists()


def test_write_run_cancelled_stays_out_of_results(tmp_path):
    results = tmp_path / "results"
    path = write_run(record("cancelled", error_msg="OOM"), [], results, "gsm8k", "lora--default")
    assert path == tmp_path / "cancelled_results" / "gsm8k" / "lora--default.json"
    assert path.exists()
    assert not predictions_path(path).exists()  # no predictions, no sidecar
    assert not results.exists() or list(results.rglob("*")) == []


def test_write_run_success_supersedes_stale_cancelled(tmp_path):
    results = tmp_path / "results"
    failed = write_run(record("failed"), [{"id": 1}], results, "t", "ia3--default")
    assert failed.exists() and predictions_path(failed).exists()
    write_run(record(), [{"id": 1}], results, "t", "ia3--default")
    assert not failed.exists() and not predictions_path(failed).exists()
    assert (results / "t" / "ia3--default.json").exists()


def test_write_run_without_predictions_removes_stale_sidecar(tmp_path):
    path = write_run(record(), [{"id": 1}], tmp_path, "t", "s")
    write_run(record(), [], tmp_path, "t", "s")
    assert path.exists() and not predictions_path(path).exists()


def test_a_record_needs_a_known_status():
    with pytest.raises(ValueError, match="status"):
        ResultRecord.model_validate({"run_info": {}, "train_info": {}})
    with pytest.raises(ValueError, match="status"):
        ResultRecord.model_validate({"run_info": {}, "train_info": {"status": "done"}})


def test_read_record_rejects_non_records(tmp_path):
    for name, text in [("list.json", "[1, 2]"), ("partial.json", '{"run_info": {}}'), ("bad.json", "{oops")]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError, match=name):
            read_record(path)


def test_find_results_ignores_sidecars_and_temp_files(tmp_path):
    write_run(record(), [{"id": 1}], tmp_path, "gsm8k", "lora--a")
    write_run(record(), [], tmp_path, "gsm8k", "ia3--b")
    write_run(record(), [], tmp_path, "other", "lora--a")
    (tmp_path / "gsm8k" / ".lora--c.json.123.abcd.tmp").write_text("{")
    assert find_results(tmp_path, "gsm8k") == {
        "ia3--b": tmp_path / "gsm8k" / "ia3--b.json",
        "lora--a": tmp_path / "gsm8k" / "lora--a.json",
    }
    # All tasks: the same stem exists in two tasks, so keys carry the task.
    assert set(find_results(tmp_path)) == {"gsm8k/ia3--b", "gsm8k/lora--a", "other/lora--a"}
    assert find_results(tmp_path / "missing") == {}
    assert find_results(tmp_path, "missing") == {}


def test_results_module_stays_free_of_the_training_stack():
    # The dashboard imports this on machines without torch; check in a fresh interpreter.
    code = "import sys, peftbench.records.results; print(sorted({'torch','transformers','peft'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
