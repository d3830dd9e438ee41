"""Sweep planning, outcomes, status and slots: fast, no processes started."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from peftbench.errors import UserError
from peftbench.planning.plan import plan_run
from peftbench.records.results import atomic_write_json
from peftbench.sweep import local
from peftbench.sweep.heartbeat import HeartbeatReporter
from peftbench.sweep.live import run_row, status_table
from peftbench.sweep.outcome import Outcome, from_exit_code
from peftbench.sweep.plan import SweepEntry, decide, find_experiments, parse_list
from peftbench.sweep.state import heartbeat_file, is_locked, read_state, run_lock, write_state

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


def record(status: str, digest: str, **run_info) -> dict:
    final = [{"step": 2, "test accuracy": 0.25}] if status == "success" else []
    return {"run_info": {"config_hash": digest, "error_msg": "", **run_info},
            "train_info": {"status": status, "metrics": final}}


def put(out: Path, status: str, digest: str, stem: str = "lora--t", **run_info) -> Path:
    folder = out if status == "success" else out.with_name("cancelled_" + out.name)
    path = folder / "minimath" / f"{stem}.json"
    atomic_write_json(path, record(status, digest, **run_info))
    return path


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "results"


def test_new_run_is_planned(out):
    assert decide(out, "minimath", "lora--t", "h1", False) == ("run", "new")


def test_done_with_same_hash_is_skipped_and_changed_hash_reruns(out):
    put(out, "success", "h1")
    assert decide(out, "minimath", "lora--t", "h1", False) == ("skip", "done")
    action, reason = decide(out, "minimath", "lora--t", "h2", False)
    assert action == "run" and "config changed" in reason


def test_failed_run_is_skipped_unless_retry_failed(out):
    put(out, "failed", "h1", error_msg="boom")
    assert decide(out, "minimath", "lora--t", "h1", False)[0] == "skip"
    assert decide(out, "minimath", "lora--t", "h1", True) == ("run", "retry failed")


def test_interrupted_run_always_reruns(out):
    put(out, "cancelled", "h1")
    assert decide(out, "minimath", "lora--t", "h1", False) == ("run", "interrupted earlier")


def test_damaged_result_file_counts_as_missing(out):
    path = out / "minimath" / "lora--t.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"run_info": {"config_h')
    assert decide(out, "minimath", "lora--t", "h1", False) == ("run", "new")


@pytest.mark.parametrize("text, what, cast, message", [
    ("0,x", "seeds", int, "--seeds: expected a comma-separated list of ints, got '0,x'"),
    (" , ", "methods", str, "--methods: empty list"),
])
def test_bad_lists_are_user_errors(text, what, cast, message):
    with pytest.raises(UserError, match=message):
        parse_list(text, what, cast)


def test_parse_list_values():
    assert parse_list("0, 1,2", "seeds", int) == [0, 1, 2]
    assert parse_list(None, "seeds", int) is None


def test_find_experiments_filters_methods_and_names_unknown_ones(make_experiment, tmp_path):
    make_experiment(method="lora", name="default", adapter=LORA)
    make_experiment(method="lora", name="dora", adapter={**LORA, "use_dora": True})
    make_experiment(method="ia3", name="t", adapter={"peft_type": "IA3", "task_type": "CAUSAL_LM"})
    root = tmp_path / "experiments"

    def names(methods):
        return [e.full_name for e in find_experiments([root], None, methods)]

    assert names(["lora"]) == ["lora/default"]  # a method = its default configuration
    assert names(["lora/*"]) == ["lora/default", "lora/dora"]
    assert names(["lora/dora", "ia3"]) == ["ia3/t", "lora/dora"]  # no default: all of the method
    assert len(find_experiments([root], "minimath", None)) == 3
    with pytest.raises(UserError, match=r"--methods: no experiments for loha, lora/x \(expected METHOD"):
        find_experiments([root], None, ["lora", "loha", "lora/x"])
    with pytest.raises(UserError, match="no experiments to run"):
        find_experiments([root / "minimath" / "lora" / "default"], "other", None)


@pytest.fixture
def planned(make_experiment) -> SweepEntry:
    """A planned run of experiments/minimath/lora/t (planning loads no model)."""
    return SweepEntry(plan_run(make_experiment(adapter=LORA)), "run", "new")


def test_killed_run_gets_a_cancelled_record_from_the_driver(out, planned):
    digest = planned.config_hash
    beat = heartbeat_file(out, "minimath", "lora--t")
    write_state(beat, {"phase": "train", "step": 7, "loss": 2.5, "pid": 1})
    outcome = from_exit_code(-9, planned, out, 3.0)
    assert outcome.state == "cancelled" and outcome.reason == "killed by signal 9 (SIGKILL)"
    data = json.loads((out.parent / "cancelled_results" / "minimath" / "lora--t.json").read_text())
    assert data["train_info"] == {"status": "cancelled", "metrics": [{"step": 7, "train loss": 2.5}]}
    assert data["run_info"]["config_hash"] == digest and "SIGKILL" in data["run_info"]["error_msg"]
    assert not beat.exists()
    assert decide(out, "minimath", "lora--t", digest, False) == ("run", "interrupted earlier")


def test_exit_codes_map_to_states(out, planned):
    put(out, "failed", planned.config_hash, error_msg="ValueError: bad")
    assert from_exit_code(1, planned, out, 1.0) == Outcome("failed", "ValueError: bad", 1.0)
    assert from_exit_code(143, planned, out, 1.0).state == "cancelled"
    assert from_exit_code(75, planned, out, 1.0) == Outcome("skipped", "running in another process", 1.0)
    assert from_exit_code(0, planned, out, 1.0).state == "success"
    early = "some warning\nerror: x: config changed since the sweep planned it\n"  # printed before the lock
    assert from_exit_code(2, planned, out, 1.0, early=early).reason == "x: config changed since the sweep planned it"


def test_status_rows_from_disk(out, planned):
    run = planned.to_dict()
    assert run_row(run, out, None, driver_alive=True) == ("queued", "")
    assert run_row(run, out, None, driver_alive=False)[0] == "not run"
    beat = heartbeat_file(out, "minimath", "lora--t")
    write_state(beat, {"phase": "train", "step": 3, "max_steps": 10, "loss": 1.25, "eta": 12.0,
                       "pid": 2**22 + 12345, "host": __import__("socket").gethostname()})
    state, detail = run_row(run, out, None, True)
    assert state == "interrupted" and "step 3/10 loss 1.250" in detail
    write_state(beat, {**read_state(beat), "pid": __import__("os").getpid()})
    assert run_row(run, out, None, True) == ("running", "step 3/10 loss 1.250 ETA 12s")
    put(out, "success", planned.config_hash)
    assert run_row(run, out, None, True) == ("success", "test accuracy 25.0%")
    table, counts = status_table([run], out)
    assert counts == {"success": 1} and table.row_count == 1


def test_heartbeat_reports_step_loss_and_eta(tmp_path):
    path = tmp_path / "hb.status"
    reporter = HeartbeatReporter(path, every=0.0, experiment="lora/t")
    assert read_state(path)["phase"] == "loading"

    class State:
        step, last_loss = 0, 0.0

    with reporter.training(4) as on_step:
        for step in (1, 2):
            State.step, State.last_loss = step, 1.0 / step
            time.sleep(0.01)
            on_step(State)
    beat = read_state(path)
    assert (beat["phase"], beat["step"], beat["max_steps"], beat["loss"]) == ("train", 2, 4, 0.5)
    assert beat["eta"] > 0 and beat["pid"] > 0 and beat["experiment"] == "lora/t"


def test_run_lock_is_exclusive_and_released(out):
    lock = run_lock(out, "minimath", "lora--t")
    lock.acquire()
    try:
        assert is_locked(out, "minimath", "lora--t")
    finally:
        lock.release()
    assert not is_locked(out, "minimath", "lora--t")


def test_cpu_slots_split_the_cores(monkeypatch):
    monkeypatch.setattr(local, "visible_gpus", lambda: [])
    monkeypatch.setattr(local, "cpu_cores", lambda: 8)
    assert local.make_slots(4, 1) == [local.Slot(None, 2)] * 4
    assert local.make_slots(None, 1) == [local.Slot(None, 8)]
    assert local.make_slots(16, 1)[0].threads == 1
    assert local.Slot(None, 2).env() == {"PEFTBENCH_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}


def test_gpu_slots_one_run_per_gpu_or_several(monkeypatch):
    monkeypatch.setattr(local, "visible_gpus", lambda: ["0", "3"])
    assert [s.gpu for s in local.make_slots(None, 1)] == ["0", "3"]
    assert [s.gpu for s in local.make_slots(None, 2)] == ["0", "0", "3", "3"]
    assert [s.gpu for s in local.make_slots(1, 2)] == ["0"]
    assert local.Slot("3", None).env() == {"CUDA_VISIBLE_DEVICES": "3"}


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert local.visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local.visible_gpus() == []


def test_validated_peft_configs_are_remembered_and_bad_ones_never(monkeypatch, tmp_path):
    from peftbench.adapters import peft_config

    monkeypatch.setenv("PEFTBENCH_CACHE", str(tmp_path))  # not the session cache other tests filled

    calls = []
    real = peft_config.build_peft_config
    monkeypatch.setattr(peft_config, "build_peft_config", lambda *a: calls.append(a) or real(*a))
    peft_config.validate_peft_config(LORA, "a.json")
    peft_config.validate_peft_config(LORA, "a.json")
    assert len(calls) == 1  # the second check came from the cache
    bad = {**LORA, "rank": 4}
    for _ in range(2):
        with pytest.raises(UserError, match="b.json: key .rank. is not a LoraConfig field"):
            peft_config.validate_peft_config(bad, "b.json")
    assert len(calls) == 3


def test_each_driver_writes_only_its_own_state_file(out, planned, monkeypatch):
    """Two sweeps on one folder: a driver never rewrites another's plan (issue 10), and status shows
    the runs of every live driver, each once."""
    import os
    import socket

    from peftbench.sweep import driver
    from peftbench.sweep.state import driver_file, drivers_dir, sweep_view

    other = driver_file(out, pid=os.getppid())  # a live process: another sweep running on the folder
    other_runs = [{**planned.to_dict(), "key": "minimath/ia3--t", "experiment": "ia3/t", "stem": "ia3--t"}]
    write_state(other, {"pid": os.getppid(), "host": socket.gethostname(), "started": 1.0, "finished": None,
                        "runs": other_runs})
    before = other.read_bytes()
    seen = []

    class Stub:
        def run(self, runs, output_dir, on_change):
            seen.append(sweep_view(output_dir))
            return {}

    monkeypatch.setattr(driver, "make_executor", lambda options: Stub())
    driver.run_planned([planned], out)
    assert other.read_bytes() == before
    assert sorted(p.name for p in drivers_dir(out).iterdir()) == sorted([other.name, driver_file(out).name])
    during = seen[0]
    assert during.alive and [r["key"] for r in during.runs] == ["minimath/ia3--t", "minimath/lora--t"]
    assert read_state(driver_file(out))["finished"] is not None


def test_status_shows_the_latest_driver_when_none_runs_and_prunes_the_dead(out, planned):
    import socket

    from peftbench.sweep.state import driver_file, drivers_dir, prune_drivers, sweep_view

    assert sweep_view(out) is None
    dead = 2**22 + 4321  # above the kernel's pid limit: no such process
    for pid, started in ((dead, 1.0), (dead + 1, 2.0)):
        write_state(driver_file(out, pid=pid), {"pid": pid, "host": socket.gethostname(), "started": started,
                                                "finished": None, "runs": [planned.to_dict()]})
    view = sweep_view(out)
    assert not view.alive and [d["pid"] for d in view.drivers] == [dead + 1]
    assert status_table(view.runs, out, driver_alive=view.alive)[1] == {"not run": 1}
    prune_drivers(out)
    assert not list(drivers_dir(out).iterdir())


def test_driver_file_never_takes_a_host_name_as_a_path(out):
    from peftbench.sweep.state import driver_file, drivers_dir

    path = driver_file(out, host="../../evil", pid=7)
    assert path.parent == drivers_dir(out) and ".." not in path.name and path.name.endswith("-7.state")


def test_sweep_paths_refuse_names_that_are_not_plain(out):
    with pytest.raises(UserError, match="expected a name"):
        heartbeat_file(out, "../x", "lora--t")
    with pytest.raises(UserError, match="plain file name"):
        run_lock(out, "minimath", "../../lora--t")


def test_demo_runs_two_at_a_time_on_cpu_and_one_per_gpu_on_gpus(monkeypatch):
    from peftbench.cli import presets

    monkeypatch.setattr(local, "visible_gpus", lambda: [])
    assert presets.default_demo_jobs() == presets.DEMO_CPU_JOBS == 2
    monkeypatch.setattr(local, "visible_gpus", lambda: ["0"])
    assert presets.default_demo_jobs() is None  # the executor's own default: one run per GPU
