"""`--report-to` wired into runs: the pipeline starts the trackers before training, logs every window
row as the training loop records it and finishes with the record's figures; `peftbench run` and
`peftbench sweep` (through the worker's arguments) take `--report-to` and `--tracking-dir`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from peftbench.cli import app
from peftbench.errors import UserError
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.sweep.launch import worker_args
from peftbench.sweep.plan import SweepEntry
from peftbench.telemetry.trackers import Trackers, Tracking, summary_of

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
runner = CliRunner()


class Recorder:
    def __init__(self, fail_on_start=False):
        self.calls, self.rows, self.fail_on_start = [], [], fail_on_start

    def start(self, run_name, config):
        if self.fail_on_start:
            raise ConnectionError("tracking server refused the connection")
        self.calls.append(("start", run_name, config["experiment"], config["train_config"]["max_steps"]))

    def log(self, step, row):
        self.calls.append(("log", step))
        self.rows.append(dict(row))

    def finish(self, summary, success=True):
        self.calls.append(("finish", success))
        self.summary = summary


def test_a_run_reports_each_window_then_its_figures(make_experiment, tiny_params, tmp_path):
    recorder = Recorder()
    plan = plan_run(make_experiment(adapter=LORA), overrides=tiny_params)
    outcome = execute(plan, tmp_path / "results", trackers=Trackers({"rec": recorder}))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    windows = outcome.record.window_rows()
    assert [r["step"] for r in windows] == [1, 2]
    assert recorder.calls == [("start", "minimath/lora--t", "lora/t", 2), ("log", 1), ("log", 2), ("finish", True)]
    assert recorder.rows == windows  # the rows as recorded, at the moment they were recorded
    assert recorder.summary == summary_of(outcome.record)
    assert recorder.summary["test/accuracy"] == outcome.record.final_metrics()["test accuracy"]


def test_a_failed_run_finishes_its_trackers_as_failed(make_experiment, tiny_params, tmp_path):
    recorder = Recorder()
    broken = {**tiny_params, "optimizer_kwargs": {"lr": 1e-3, "betas": [2.0, 0.9]}}  # torch refuses it at the first step
    outcome = execute(plan_run(make_experiment(adapter=LORA), overrides=broken), tmp_path / "results",
                      trackers=Trackers({"rec": recorder}))
    assert outcome.status == "failed"
    assert recorder.calls[0][0] == "start" and recorder.calls[-1] == ("finish", False)


def test_a_tracker_that_cannot_start_stops_the_run_before_anything_is_written(make_experiment, tiny_params, tmp_path):
    good = Recorder()
    plan = plan_run(make_experiment(adapter=LORA), overrides=tiny_params)
    with pytest.raises(UserError, match="--report-to bad: cannot start a run .ConnectionError: tracking server refused"):
        execute(plan, tmp_path / "results", trackers=Trackers({"good": good, "bad": Recorder(fail_on_start=True)}))
    assert good.calls[-1] == ("finish", False)  # the one already started is closed, not left open
    assert not (tmp_path / "results").exists() and not (tmp_path / "cancelled_results").exists()


def test_run_command_logs_to_tensorboard(make_experiment, tiny_params, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = make_experiment(adapter=LORA, params=tiny_params)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", str(folder), "--output-dir", "results", "--quiet", "--report-to", "tensorboard",
                                 "--tracking-dir", "tb"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "results" / "minimath" / "lora--t.json").read_text())
    events = EventAccumulator(str(tmp_path / "tb" / "minimath" / "lora--t"))
    events.Reload()
    windows = record["train_info"]["metrics"][:-1]
    logged = events.Scalars("train/loss")  # float32 in the event file
    assert [e.step for e in logged] == [r["step"] for r in windows]
    assert [e.value for e in logged] == pytest.approx([r["train loss"] for r in windows], rel=1e-6)
    assert [e.value for e in events.Scalars("test/accuracy")] == \
        pytest.approx([record["train_info"]["metrics"][-1]["test accuracy"]], rel=1e-6)


def test_an_unknown_tracker_is_one_line_and_nothing_runs(make_experiment, tiny_params, tmp_path):
    folder = make_experiment(adapter=LORA, params=tiny_params)
    for command in (["run", str(folder)], ["sweep", str(folder)]):
        result = runner.invoke(app, [*command, "--output-dir", str(tmp_path / "out"), "--report-to", "neptune"])
        assert result.exit_code == 2
        assert "--report-to 'neptune': expected one of tensorboard, mlflow, wandb, trackio" in result.output
    assert not (tmp_path / "out").exists()


def test_workers_get_the_trackers_only_when_asked(make_experiment, tiny_params, tmp_path):
    planned = SweepEntry(plan_run(make_experiment(adapter=LORA), overrides=tiny_params), "run", "new")
    assert len(worker_args(planned, tmp_path)) == 4  # -m, module, output dir, plan
    tracking = Tracking(("mlflow", "tensorboard"), str(tmp_path / "t"))
    args = worker_args(planned, tmp_path, tracking)
    assert Tracking.from_json(json.loads(args[-1])) == tracking


def test_sweep_workers_log_to_mlflow(make_experiment, tiny_params, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    make_experiment(adapter=LORA, params=tiny_params)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-m", "peftbench", "sweep", str(tmp_path / "experiments"), "--output-dir",
                           str(tmp_path / "results"), "--report-to", "mlflow", "--tracking-dir", str(tmp_path / "track")],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "results" / "minimath" / "lora--t.json").read_text())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading the local store, as the tracker wrote it
    client = MlflowClient(tracking_uri=(tmp_path / "track" / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("peftbench").experiment_id])
    assert run.info.run_name == "minimath/lora--t" and run.info.status == "FINISHED"
    assert run.data.params["config_hash"] == record["run_info"]["config_hash"]
    history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train/loss"))
    assert history == [(r["step"], r["train loss"]) for r in record["train_info"]["metrics"][:-1]]
    assert run.data.metrics["test/accuracy"] == record["train_info"]["metrics"][-1]["test accuracy"]
