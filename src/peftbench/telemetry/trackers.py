"""`--report-to`: send a run's training windows to the experiment tracker the user already has.

One small interface — `start(run_name, config)`, `log(step, window_row)`, `finish(summary)` — with
one adapter per library (TensorBoard, MLflow, Weights & Biases, Trackio), each configured the way
its own users expect (MLFLOW_TRACKING_URI, WANDB_MODE/WANDB_PROJECT, TRACKIO_DIR ...). The result
record stays the source of truth: trackers get a copy of the numbers, and a tracker that fails
after the start is switched off with a warning rather than losing the benchmark run.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from peftbench.errors import UserError
from peftbench.system.extras import require
from peftbench.metrics import METRICS
from peftbench.records.status import FAILED, SUCCESS

if TYPE_CHECKING:
    from peftbench.records.record import ResultRecord

DEFAULT_PROJECT = "peftbench"
# train_info figures (the registry's) go into a tracker's summary, beside every number of the final row.
SUMMARY_KEYS = tuple(m.key for m in METRICS.values() if m.where == "train_info")
# Final-row keys that are already a logged series (the windows', e.g. `train loss`); a second value at
# the last step would read as one more training point.
SERIES_KEYS = frozenset(m.key for m in METRICS.values() if m.where == "window")


class Tracker(Protocol):
    def start(self, run_name: str, config: dict) -> None: ...

    def log(self, step: int, row: dict) -> None: ...

    def finish(self, summary: dict, success: bool = True) -> None: ...


def metric_name(key: str) -> str:
    """A record key as a tracker metric: `train loss` -> `train/loss`, `tokens / sec` -> `tokens_per_sec`,
    `test accuracy gsm8k` -> `test/accuracy_gsm8k` (trackers group charts by the part before `/`)."""
    head, _, rest = key.replace(" / ", "_per_").partition(" ")
    return f"{head}/{rest.replace(' ', '_')}" if rest else head


def scalars(row: dict) -> dict[str, float]:
    """The finite numbers of a row under tracker names; `step` and text are left out."""
    out = {}
    for key, value in row.items():
        if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[metric_name(key)] = float(value)
    return out


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """Nested config -> {"train_config.optimizer_kwargs.lr": 1e-4, ...}; lists become JSON text."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def summary_of(record: ResultRecord) -> dict[str, float]:
    """A record's figures for `finish`: its final metrics row (less the per-window series; none for a
    run that never finished) and the train_info figures."""
    final = {k: v for k, v in record.final_metrics().items() if k not in SERIES_KEYS}
    return {**scalars(final), **scalars({k: getattr(record.train_info, k, None) for k in SUMMARY_KEYS})}


class TensorBoardTracker:
    """Event files under `<log_dir>/<run_name>/` (open with `tensorboard --logdir <log_dir>`)."""

    def __init__(self, log_dir: Path, project: str = DEFAULT_PROJECT):
        self.log_dir, self.writer, self.step = Path(log_dir), None, 0
        require("tensorboard")

    def start(self, run_name: str, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter  # the writer TensorBoard users know

        self.writer = SummaryWriter(log_dir=str(self.log_dir / run_name))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")

    def log(self, step: int, row: dict) -> None:
        self.step = step
        for name, value in scalars(row).items():
            self.writer.add_scalar(name, value, step)

    def finish(self, summary: dict, success: bool = True) -> None:
        for name, value in summary.items():
            self.writer.add_scalar(name, value, self.step)
        self.writer.add_text("status", SUCCESS if success else FAILED, self.step)
        self.writer.close()


class MlflowTracker:
    """An MLflow run in experiment `project` ($MLFLOW_EXPERIMENT_NAME wins) on $MLFLOW_TRACKING_URI,
    else in a local file store `<log_dir>/mlruns` (`MLFLOW_ALLOW_FILE_STORE=true mlflow ui
    --backend-store-uri <that folder>`)."""

    PARAM_BATCH = 100  # MLflow's limit of params per log_batch call
    PARAM_CHARS = 6000  # and of characters per value

    def __init__(self, log_dir: Path, project: str = DEFAULT_PROJECT):
        require("mlflow")
        self.log_dir, self.project, self.client, self.run_id, self.step = Path(log_dir), project, None, None, 0

    def _uri(self) -> str:
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        # MLflow 3 keeps its file store for local use only behind this switch; a database store
        # would need the full mlflow package (SQLAlchemy, alembic) where mlflow-skinny suffices.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return (self.log_dir / "mlruns").resolve().as_uri()

    def start(self, run_name: str, config: dict) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self._uri())
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or self.project
        found = self.client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        params = [Param(k, str(v)[: self.PARAM_CHARS]) for k, v in flatten(config).items()]
        for i in range(0, len(params), self.PARAM_BATCH):
            self.client.log_batch(self.run_id, params=params[i: i + self.PARAM_BATCH])

    def _metrics(self, values: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def log(self, step: int, row: dict) -> None:
        self.step = step
        self._metrics(scalars(row), step)

    def finish(self, summary: dict, success: bool = True) -> None:
        self._metrics(summary, self.step)
        self.client.set_terminated(self.run_id, "FINISHED" if success else "FAILED")


class WandbTracker:
    """A Weights & Biases run in project `project` ($WANDB_PROJECT wins); $WANDB_MODE=offline keeps it
    local (`wandb sync` uploads it later). Files go under `<log_dir>/wandb/`."""

    def __init__(self, log_dir: Path, project: str = DEFAULT_PROJECT):
        self.wandb = require("wandb")
        self.log_dir, self.project, self.run = Path(log_dir), project, None

    def start(self, run_name: str, config: dict) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run = self.wandb.init(project=os.environ.get("WANDB_PROJECT") or self.project, name=run_name,
                                   config=config, dir=str(self.log_dir), reinit="create_new")

    def log(self, step: int, row: dict) -> None:
        self.run.log(scalars(row), step=step)

    def finish(self, summary: dict, success: bool = True) -> None:
        self.run.summary.update(summary)
        self.run.finish(exit_code=0 if success else 1)


class TrackioTracker:
    """A Trackio run in project `project`, stored where Trackio keeps its data ($TRACKIO_DIR, or its
    Space when configured); `trackio show` opens the dashboard."""

    def __init__(self, log_dir: Path, project: str = DEFAULT_PROJECT):
        self.trackio = require("trackio")
        self.project, self.run, self.step = project, None, 0

    def start(self, run_name: str, config: dict) -> None:
        # Trackio's CPU/GPU sampling threads would run inside the measured process: off, so memory
        # and time figures stay those of training.
        self.run = self.trackio.init(project=self.project, name=run_name, config=config,
                                     auto_log_cpu=False, auto_log_gpu=False)

    def log(self, step: int, row: dict) -> None:
        self.step = step
        self.run.log(scalars(row), step=step)

    def finish(self, summary: dict, success: bool = True) -> None:
        # Trackio has no separate run summary: the final figures are logged at the last step.
        self.run.log({**summary, "success": float(success)}, step=self.step)
        self.run.finish()


TRACKERS = {"tensorboard": TensorBoardTracker, "mlflow": MlflowTracker, "wandb": WandbTracker,
            "trackio": TrackioTracker}


class Trackers:
    """Every requested tracker behind the one interface. A failure in `start` stops the run before it
    trains; later failures switch that tracker off with one warning."""

    def __init__(self, trackers: dict[str, Tracker]):
        self.active = dict(trackers)

    def __bool__(self) -> bool:
        return bool(self.active)

    def start(self, run_name: str, config: dict) -> None:
        """Start every tracker; UserError naming the one that cannot start (the ones already started
        are finished as failed), so the run stops before it trains and writes nothing."""
        started = []
        for name, tracker in self.active.items():
            try:
                tracker.start(run_name, config)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 — any library's error: a server down, a bad URI, a login
                Trackers(dict(started)).finish({}, success=False)
                raise UserError(f"--report-to {name}: cannot start a run ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else 'no message'})") from None
            started.append((name, tracker))

    def _each(self, method: str, *args) -> None:
        for name, tracker in list(self.active.items()):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # noqa: BLE001 — a tracker outage must not cost the run
                warnings.warn(f"--report-to {name}: {type(exc).__name__}: {exc}; no further logging to it",
                              RuntimeWarning, stacklevel=3)
                del self.active[name]

    def log(self, step: int, row: dict) -> None:
        self._each("log", step, row)

    def log_row(self, row: dict) -> None:
        """`log` for a training-window row that carries its own `step` (the training loop's rows)."""
        self._each("log", int(row["step"]), row)

    def finish(self, summary: dict, success: bool = True) -> None:
        self._each("finish", summary, success)


def make_trackers(names: Iterable[str], log_dir: Path | str, project: str = DEFAULT_PROJECT) -> Trackers:
    """Trackers for `--report-to` names; UserError for an unknown name, MissingExtra for a missing library
    (both before any training starts)."""
    chosen = {}
    for name in names:
        if name not in TRACKERS:
            raise UserError(f"--report-to {name!r}: expected one of {', '.join(TRACKERS)}")
        chosen[name] = TRACKERS[name](Path(log_dir), project)
    return Trackers(chosen)


@dataclass(frozen=True)
class Tracking:
    """What `--report-to` and `--tracking-dir` asked for, as it travels to a sweep's workers (JSON)."""

    report_to: tuple[str, ...] = ()
    directory: str = "tracking"  # local trackers' files (TensorBoard, MLflow's file store, W&B)

    def make(self) -> Trackers:
        """The trackers (none when nothing was asked for); UserError / MissingExtra up front."""
        return make_trackers(self.report_to, self.directory)

    def to_json(self) -> dict:
        return {"report_to": list(self.report_to), "directory": self.directory}

    @classmethod
    def from_json(cls, data: dict) -> Tracking:
        return cls(tuple(data.get("report_to", ())), str(data.get("directory", "tracking")))


def tracking_options(report_to: list[str], tracking_dir: Path) -> Tracking:
    """The CLI options as a `Tracking`, checked (names, installed libraries); the folder absolute, so a
    worker started elsewhere writes to the same place."""
    tracking = Tracking(tuple(dict.fromkeys(report_to)), str(Path(tracking_dir).resolve()))
    tracking.make()
    return tracking
