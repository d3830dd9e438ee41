"""The status table of a sweep, drawn from the files on disk (results, cancelled records,
heartbeats), so the sweep itself and `peftbench status` in another terminal show the same thing."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from peftbench.metrics import format_value
from peftbench.records.record import ResultRecord, read_record_or_none
from peftbench.records.status import (CANCELLED, FAILED, INTERRUPTED, NOT_RUN, QUEUED, RUNNING, SKIPPED, STATES,
                                      SUCCESS)
from peftbench.records.results import result_path
from peftbench.sweep.outcome import Outcome
from peftbench.sweep.state import heartbeat_file, pid_alive, read_state

STYLE = {SUCCESS: "green", RUNNING: "cyan", QUEUED: "dim", FAILED: "red", CANCELLED: "yellow", SKIPPED: "dim",
         INTERRUPTED: "yellow"}


def _main_metric(record: ResultRecord) -> str:
    for key, value in record.final_metrics().items():
        if key.startswith("test ") and isinstance(value, (int, float)):
            return f"{key} {format_value(value, key)}"
    return ""


def _running(beat: dict) -> str:
    phase = beat.get("phase", "")
    if phase == "train" and beat.get("max_steps"):
        loss = f" loss {beat['loss']:.3f}" if isinstance(beat.get("loss"), (int, float)) else ""
        eta = f" ETA {beat['eta']:.0f}s" if isinstance(beat.get("eta"), (int, float)) else ""
        return f"step {beat.get('step', 0)}/{beat['max_steps']}{loss}{eta}"
    if isinstance(beat.get("total"), int) and phase not in ("loading",):
        return f"{phase} ({beat['total']} items)"
    return phase


def run_row(run: dict, output_dir: Path, outcome: Outcome | None, driver_alive: bool) -> tuple[str, str]:
    """(state, detail) of one planned run (a SweepEntry.to_dict())."""
    task, stem, digest = run["task"], run["stem"], run["config_hash"]
    done = read_record_or_none(result_path(output_dir, task, stem, SUCCESS))
    if done and done.run_info.config_hash == digest:
        return SUCCESS, _main_metric(done)
    if outcome is not None and outcome.state != SUCCESS:
        return outcome.state, outcome.reason
    if run["action"] == "skip":
        return SKIPPED, run["reason"]
    beat = read_state(heartbeat_file(output_dir, task, stem))
    if beat:
        alive = pid_alive(beat.get("pid"), beat.get("host"))
        if alive is not False:
            return RUNNING, _running(beat) + (f" on {beat['host']}" if alive is None else "")
        return INTERRUPTED, f"process {beat.get('pid')} is gone (at {_running(beat)})"
    stopped = read_record_or_none(result_path(output_dir, task, stem, FAILED))
    if stopped and stopped.run_info.config_hash == digest:
        return (FAILED if stopped.status == FAILED else CANCELLED), stopped.run_info.error_msg
    return (QUEUED, "") if driver_alive else (NOT_RUN, "sweep stopped before it")


def status_table(runs: list[dict], output_dir: Path, outcomes: dict[str, Outcome] | None = None,
                 driver_alive: bool = True, title: str = "") -> tuple[Table, dict[str, int]]:
    table = Table("experiment", "seed", "state", "detail", title=title, title_justify="left")
    counts: dict[str, int] = {}
    for run in runs:
        state, detail = run_row(run, output_dir, (outcomes or {}).get(run["key"]), driver_alive)
        counts[state] = counts.get(state, 0) + 1
        # Names and details (an error message) are text, never rich markup.
        table.add_row(Text(f"{run['task']}/{run['experiment']}"), str(run["seed"]),
                      Text(state, style=STYLE.get(state, "")), Text(str(detail)))
    return table, counts


def summary_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in STATES if counts.get(k))
