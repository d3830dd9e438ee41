"""`--report-to`: each tracker adapter writes a run's windows and summary where its own tools read
them back (TensorBoard event files, an MLflow file store, a W&B offline run, a local Trackio store)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap

import pytest

from peftbench.errors import UserError
from peftbench.system.extras import MissingExtra
from peftbench.records.record import parse_record
from peftbench.telemetry.trackers import Trackers, flatten, make_trackers, metric_name, scalars, summary_of
from test_analysis_load import record

RUN = "minimath/lora--default"
CONFIG = {"task": "minimath", "seed": 0, "train_config": {"optimizer_kwargs": {"lr": 1e-4}, "target": ["q", "v"]}}
RECORD = record("lora/default")
WINDOWS = RECORD["train_info"]["metrics"][:-1]  # rows as the training loop writes them: steps 2 and 4
SUMMARY = summary_of(parse_record(RECORD, "test record"))


def test_names_rows_and_configs_become_tracker_friendly():
    assert metric_name("train loss") == "train/loss"
    assert metric_name("tokens / sec") == "tokens_per_sec"
    assert metric_name("test accuracy gsm8k") == "test/accuracy_gsm8k"
    assert scalars({"step": 2, "train loss": 0.5, "note": "x", "ok": True, "nan": float("nan")}) == {"train/loss": 0.5}
    assert flatten(CONFIG) == {"task": "minimath", "seed": 0, "train_config.optimizer_kwargs.lr": 1e-4,
                               "train_config.target": '["q", "v"]'}
    assert SUMMARY["test/accuracy"] == 0.5 and SUMMARY["file_size"] == 246_902
    assert not {"step", "train/loss", "train/samples"} & SUMMARY.keys()


def test_unknown_or_missing_tracker_is_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="--report-to 'neptune': expected one of tensorboard, mlflow, wandb, trackio"):
        make_trackers(["neptune"], tmp_path)
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"--report-to wandb needs wandb, which is not installed: "
                                           r"pip install 'peftbench\[wandb\]'"):
        make_trackers(["wandb"], tmp_path)


class _Recorder:
    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def start(self, run_name, config):
        self.calls.append(("start", run_name))

    def log(self, step, row):
        if self.fail_on == "log":
            raise ConnectionError("server gone")
        self.calls.append(("log", step))

    def finish(self, summary, success=True):
        self.calls.append(("finish", success))


def test_a_failing_tracker_is_switched_off_and_the_others_go_on():
    good, bad = _Recorder(), _Recorder(fail_on="log")
    trackers = Trackers({"good": good, "bad": bad})
    trackers.start(RUN, CONFIG)
    with pytest.warns(RuntimeWarning, match="--report-to bad: ConnectionError: server gone"):
        for row in WINDOWS:
            trackers.log_row(row)
    trackers.finish(SUMMARY)
    assert good.calls == [("start", RUN), ("log", 2), ("log", 4), ("finish", True)]
    assert bad.calls == [("start", RUN)] and list(trackers.active) == ["good"]


def _drive(trackers):
    trackers.start(RUN, CONFIG)
    for row in WINDOWS:
        trackers.log_row(row)
    trackers.finish(SUMMARY)


def test_tensorboard_event_files(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _drive(make_trackers(["tensorboard"], tmp_path))
    events = EventAccumulator(str(tmp_path / RUN))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(2, 0.5), (4, 0.25)]
    assert [e.step for e in events.Scalars("valid/accuracy")] == [2, 4]
    assert [(e.step, e.value) for e in events.Scalars("test/accuracy")] == [(4, 0.5)]
    assert "config" in "".join(events.Tags()["tensors"])


def test_mlflow_file_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    _drive(make_trackers(["mlflow"], tmp_path))
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("peftbench").experiment_id])
    assert run.info.run_name == RUN and run.info.status == "FINISHED"
    assert run.data.params["train_config.optimizer_kwargs.lr"] == "0.0001"
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == [(2, 0.5), (4, 0.25)]
    assert run.data.metrics["test/accuracy"] == 0.5


# Run in a child process: W&B starts a service process and Trackio fixes its folder at import time.
CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from peftbench.telemetry.trackers import make_trackers
    import test_trackers as t
    t._drive(make_trackers([{name!r}], {out!r}))
""")


def _child(name, out, env):
    code = CHILD.format(tests=os.path.dirname(__file__), name=name, out=str(out))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **env}, timeout=300,
                   capture_output=True)


def _wandb_records(path):
    """Protobuf records of a W&B run file (a LevelDB-style log: 7-byte file header, 32 KiB blocks of
    chunks with a 7-byte header: crc32, length, type 1 full / 2 first / 3 middle / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data, records, pending, pos = path.read_bytes(), [], b"", 7
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7: pos + 7 + length], pos + 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(pending)
            records.append(rec)
    return records


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def test_wandb_offline_run(tmp_path):
    _child("wandb", tmp_path, {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_PROJECT": "",
                               "WANDB_DISABLE_GIT": "true"})
    (run_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    records = _wandb_records(run_file)
    kinds = [r.WhichOneof("record_type") for r in records]
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.display_name == RUN and run.project == "peftbench"
    history = [{_key(i): json.loads(i.value_json) for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    assert [(h["_step"], h["train/loss"]) for h in history] == [(2, 0.5), (4, 0.25)]
    summary = {_key(i): json.loads(i.value_json) for r in records if r.WhichOneof("record_type") == "summary"
               for i in r.summary.update}
    assert summary["test/accuracy"] == 0.5
    assert "exit" in kinds  # finished


def test_trackio_local_store(tmp_path):
    store = tmp_path / "trackio"
    _child("trackio", tmp_path, {"TRACKIO_DIR": str(store)})
    code = ("import json; from trackio import SQLiteStorage as S; "
            f"print(json.dumps([S.get_logs('peftbench', {RUN!r}), S.get_run_config('peftbench', {RUN!r})]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "TRACKIO_DIR": str(store)}).stdout
    logs, config = json.loads(out.strip().splitlines()[-1])
    assert [(r["step"], r["train/loss"]) for r in logs if "train/loss" in r] == [(2, 0.5), (4, 0.25)]
    assert logs[-1]["test/accuracy"] == 0.5 and logs[-1]["success"] == 1.0
    assert config["train_config"]["optimizer_kwargs"]["lr"] == 1e-4
