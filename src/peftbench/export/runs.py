"""Successful result records as the exporters see them: identity plus one score per test set.

A score's item count and standard error come from the predictions sidecar (one row per test item,
`test_set` naming its set), and only when the sidecar's per-item values average to the recorded
figure: a sidecar that does not match its record is never used to invent a count or an error bar.
Reader side: standard library and peftbench.analysis only, no torch.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from peftbench.analysis.load import Warn, result_files, task_of
from peftbench.metrics import DRIFT, FORGETTING, direction
from peftbench.records.record import ResultRecord, RunInfo, read_record_or_none
from peftbench.records.status import SUCCESS
from peftbench.records.results import predictions_path

# Per-model figures of the final row that are not a test set's score (lower is better for both).
MODEL_FIGURES = (FORGETTING.key, DRIFT.key)
# Image tasks name their held-out set "test" in the sidecar; text tasks name it after the task.
MAIN_SET_NAMES = ("test",)


@dataclass(frozen=True)
class Score:
    test_set: str  # the task's name for its main test set, else the extra set's name ("gsm8k")
    metric: str  # "accuracy", "similarity", "forgetting", "drift"
    value: float
    higher_is_better: bool
    n: int | None = None  # items behind the value, when the sidecar confirms it
    stderr: float | None = None  # standard error of the mean over those items


@dataclass
class ExportRun:
    path: Path
    record: ResultRecord
    task: str
    scores: list[Score] = field(default_factory=list)  # one per test set
    figures: list[Score] = field(default_factory=list)  # forgetting, drift

    @property
    def info(self) -> RunInfo:
        return self.record.run_info

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def source(self) -> str:
        if self.info.source:
            return str(self.info.source)
        return "peftbench" if self.info.peftbench_version else "reference"

    @property
    def experiment(self) -> str:
        return self.info.experiment_name or self.stem.replace("--", "/", 1)

    @property
    def train_config(self) -> dict:
        return self.info.train_config or {}

    @property
    def model_id(self) -> str | None:
        return self.train_config.get("model_id")

    @property
    def method(self) -> str:
        peft = self.info.peft_config
        return str(peft.get("peft_type")).lower() if peft else "full-finetuning"

    @property
    def seed(self) -> int | None:
        seed = self.info.seed if self.info.seed is not None else self.train_config.get("seed")
        return seed if isinstance(seed, int) else None

    @property
    def created_at(self) -> datetime | None:
        try:
            stamp = datetime.fromisoformat(str(self.info.created_at))
        except ValueError:
            return None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def sidecar_rows(path: Path) -> list[dict]:
    sidecar = predictions_path(path)
    if not sidecar.is_file():
        return []
    try:
        return [json.loads(line) for line in sidecar.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []  # the record still exports; only counts and error bars are left out


def _item_values(rows: list[dict], names: tuple[str, ...], metric: str) -> list[float]:
    values = []
    for row in rows:
        if row.get("test_set") not in names:
            continue
        raw = row.get("correct", row.get(metric))
        value = _number(float(raw) if isinstance(raw, bool) else raw)
        if value is not None:
            values.append(value)
    return values


def _score(test_set: str, metric: str, value: float, values: list[float]) -> Score:
    higher = direction(f"test {metric}") if metric not in MODEL_FIGURES else False
    # The tolerance absorbs float32 means (image tasks) yet is far below one item in 10^5 (accuracy).
    if not values or not math.isclose(sum(values) / len(values), value, rel_tol=1e-6, abs_tol=1e-9):
        return Score(test_set, metric, value, higher)
    stderr = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
    return Score(test_set, metric, value, higher, len(values), stderr)


def scores_of(record: ResultRecord, task: str, rows: list[dict]) -> tuple[list[Score], list[Score]]:
    """(test-set scores, forgetting/drift) of a record's final metrics row."""
    scores, figures = [], []
    for key, raw in record.final_metrics().items():
        value = _number(raw)
        if value is None:
            continue
        if key.startswith("test "):
            metric, _, extra_set = key[len("test "):].partition(" ")
            names = (extra_set,) if extra_set else (task, *MAIN_SET_NAMES)
            scores.append(_score(extra_set or task, metric, value, _item_values(rows, names, metric)))
        elif key in MODEL_FIGURES:
            figures.append(_score(task, key, value, _item_values(rows, (key,), key)))
    return scores, figures


def read_runs(sources: Iterable[Path], warn: Warn) -> tuple[list[ExportRun], int]:
    """The successful runs under `sources` (searched recursively) and how many others were passed over."""
    runs, passed_over = [], 0
    for path in result_files(list(sources)):
        record = read_record_or_none(path, warn)
        if record is None:
            continue
        if record.status != SUCCESS:
            passed_over += 1
            continue
        task = task_of(record, path)
        scores, figures = scores_of(record, task, sidecar_rows(path))
        runs.append(ExportRun(path, record, task, scores, figures))
    return runs, passed_over
