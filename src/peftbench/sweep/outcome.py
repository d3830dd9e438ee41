"""What became of a run, from its worker's exit code, and the record left for a run that could not
leave its own (killed by a signal, its Ray worker died)."""

from __future__ import annotations

import datetime as dt
import signal
from dataclasses import dataclass
from pathlib import Path

from peftbench import __version__
from peftbench.metrics import TRAIN_LOSS
from peftbench.records.record import MetaInfo, ResultRecord, RunInfo, TrainInfo, read_record_or_none
from peftbench.records.status import CANCELLED, FAILED, SKIPPED, SUCCESS
from peftbench.records.results import cancelled_dir, find_results, write_run
from peftbench.system.signals import EXIT_DONE_ELSEWHERE, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, EXIT_TERMINATED
from peftbench.sweep.plan import SweepEntry, existing_hash
from peftbench.sweep.state import heartbeat_file, read_state


@dataclass
class Outcome:
    state: str  # records.status: SUCCESS | FAILED | CANCELLED | SKIPPED
    reason: str = ""
    seconds: float = 0.0
    host: str = ""


def from_exit_code(code: int, planned: SweepEntry, output_dir: Path, seconds: float, host: str = "",
                   early: str = "") -> Outcome:
    """`early`: what the worker printed before it held the run's lock (e.g. why it refused to run)."""
    if code == EXIT_OK:
        return Outcome(SUCCESS, "", seconds, host)
    if code == EXIT_LOCKED:
        return Outcome(SKIPPED, "running in another process", seconds, host)
    if code == EXIT_DONE_ELSEWHERE:
        return Outcome(SKIPPED, "done by another process", seconds, host)
    if code < 0 and is_done(planned, output_dir):  # killed after its result was safely written
        return Outcome(SUCCESS, "", seconds, host)
    if code < 0:  # killed by a signal: the run could not write its own record
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        message = f"killed by signal {-code} ({name})"
        record_crash(planned, output_dir, message)
        return Outcome(CANCELLED, message, seconds, host)
    state = CANCELLED if code in (EXIT_INTERRUPTED, EXIT_TERMINATED) else FAILED
    # A user error the worker printed (the config changed since planning, a model that cannot be found)
    # is this attempt's own reason; a record in the cancelled folder may be an earlier attempt's.
    return Outcome(state, _error_line(early) or _error_of(planned, output_dir) or f"exit code {code}", seconds, host)


def _error_line(text: str) -> str:
    errors = [line.strip() for line in text.splitlines() if line.startswith("error: ")]
    return errors[-1].removeprefix("error: ") if errors else ""


def _error_of(planned: SweepEntry, output_dir: Path) -> str:
    record = read_record_or_none(cancelled_dir(output_dir) / planned.task / f"{planned.stem}.json")
    return record.run_info.error_msg if record else ""


def record_crash(planned: SweepEntry, output_dir: Path, message: str) -> None:
    """A `cancelled` record for a run that died without writing one, with the last heartbeat's step
    and loss, so the status table and the report can say what happened. A later sweep reruns it."""
    beat_path = heartbeat_file(output_dir, planned.task, planned.stem)
    beat = read_state(beat_path) or {}
    metrics = [{"step": beat["step"], TRAIN_LOSS.key: beat.get("loss")}] if beat.get("step") else []
    record = ResultRecord(
        run_info=RunInfo(created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                         experiment_name=planned.experiment, task=planned.task, seed=planned.seed,
                         config_hash=planned.config_hash, peftbench_version=__version__, error_msg=message),
        train_info=TrainInfo(status=CANCELLED, metrics=metrics),
        meta_info=MetaInfo(recorded_by="sweep driver (the run could not write its own record)"),
    )
    write_run(record, [], output_dir, planned.task, planned.stem)
    beat_path.unlink(missing_ok=True)


def is_done(planned: SweepEntry, output_dir: Path) -> bool:
    path = find_results(output_dir, planned.task).get(planned.stem)
    return path is not None and existing_hash(path) == planned.config_hash
