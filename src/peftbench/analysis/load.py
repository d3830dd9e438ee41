"""Result files -> tables: one row per run, per-step curves, per-item predictions.

Reads our records and the reference suite's (huggingface/peft `method_comparison`) alike: ours are a
superset of its schema. A file that is not a result record is skipped with a warning naming it, never
a crash. Missing values are NaN, never 0. Reader side: pandas and the stdlib only, no torch.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from peftbench.metrics import ACCOUNTED_MAX, MEMORY_MAX, TOTAL_TIME, run_table_metrics
from peftbench.records.names import NAME_RULE, is_name
from peftbench.records.record import ResultRecord, read_record_or_none
from peftbench.records.results import predictions_path
from peftbench.adapters.saved import ADAPTER_SUFFIX

Warn = Callable[[str], None]

# Experiment configuration files live next to results in the reference layout (`configs/`): they are
# the benchmark's own inputs, not foreign data, so skipping them needs no warning.
CONFIG_FILES = {"adapter_config.json", "training_params.json", "default_training_params.json", "search_space.json",
                "tune.json", "tune_trial.json"}
# The reference calls its DINOv2 image similarity `dino_similarity`; ours is `similarity`.
ALIASES = {"dino_similarity": "similarity"}
# The final row's keys and train_info's fields that become columns of the runs table (the registry's
# quality and cost metrics; `test …` keys of the final row are taken whether declared or not), and the
# window keys whose mean over the windows is a figure of the run (`Metric.run_mean`: tokens / sec).
FINAL_KEYS = tuple(m.key for m in run_table_metrics() if m.where == "final" and not m.key.startswith("test "))
TRAIN_INFO_KEYS = [m.key for m in run_table_metrics() if m.where == "train_info"]
WINDOW_MEAN_KEYS = [m.key for m in run_table_metrics() if m.where == "window"]
ID_COLUMNS = ["source", "task", "model", "method", "experiment", "seed", "status", "created_at", "path",
              "predictions_path", "config_hash", "run", "trial"]


class ResultFileWarning(UserWarning):
    """A file among the results that is not a readable result record."""


def default_warn(message: str) -> None:
    warnings.warn(message, ResultFileWarning, stacklevel=3)


def result_files(sources: Path | str | Iterable[Path | str]) -> list[Path]:
    """Every result JSON under the given folders (recursively) and files, each once, in order."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    found: dict[Path, None] = {}
    for source in map(Path, sources):
        paths = sorted(source.rglob("*.json")) if source.is_dir() else [source]
        for path in paths:
            # Hidden names are temp files of an atomic write in progress (records/results.py).
            if path.name.startswith(".") or path.name in CONFIG_FILES:
                continue
            # A kept adapter's folder (or one being written, hidden) holds JSON too: not results.
            folders = path.relative_to(source).parts[:-1] if source.is_dir() else ()
            if any(part.endswith(ADAPTER_SUFFIX) or part.startswith(".") for part in folders):
                continue
            # realpath, not resolve(): resolve raises on a symlink loop. A path that does not lead to
            # a file (loop, dangling link, pipe) is kept as given, so the warning names what was found.
            real = Path(os.path.realpath(path))
            found.setdefault(real if real.is_file() else path, None)
    return list(found)


def _alias(key: str) -> str:
    head, _, metric = key.partition(" ")
    return f"{head} {ALIASES[metric]}" if metric in ALIASES else key


def _number(value) -> float:
    """A metric value as float; None, text and non-finite values become NaN (never a made-up 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


def _method(peft_config, train_config: dict) -> str:
    if train_config.get("skip_training"):  # a baseline row: the base model, untrained
        return "base"
    if not peft_config:
        return "full-finetuning"
    return str(peft_config.get("peft_type") or "unknown").lower()


def task_of(record: ResultRecord, path: Path) -> str:
    """Our records name their task; the reference's are named by their folder (`MetaMathQA/x.json`,
    upstream also `MetaMathQA/results/x.json`)."""
    task = record.run_info.task
    if task:
        return str(task)
    folder = path.parent.name if path.parent.name != "results" else path.parent.parent.name
    return folder.lower()


def _source(record: ResultRecord) -> str:
    info = record.run_info
    if info.source:  # set by `peftbench import`
        return str(info.source)
    return "peftbench" if info.peftbench_version else "reference"


def _aliased(row: dict) -> dict:
    return {_alias(k): v for k, v in row.items()}


def _threads(system: dict | None) -> int | None:
    threads = (system or {}).get("torch_num_threads")
    return threads if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0 else None


def run_row(record: ResultRecord, path: Path) -> dict:
    """One flat row of a result record: identity columns and every metric the record has."""
    info, train = record.run_info, record.train_info
    train_config = info.train_config or {}
    seed = info.seed if info.seed is not None else train_config.get("seed")
    sidecar = predictions_path(path)
    row = {
        "source": _source(record),
        "task": task_of(record, path),
        "model": train_config.get("model_id"),
        "method": _method(info.peft_config, train_config),
        "experiment": info.experiment_name or path.stem.replace("--", "/", 1),
        "seed": seed if isinstance(seed, int) else None,
        "status": train.status,
        "created_at": info.created_at,
        "path": str(path),
        "predictions_path": str(sidecar) if sidecar.is_file() else None,
        "config_hash": info.config_hash,
        "run": path.stem,
        "memory_kind": train.memory_kind,
        "trial": info.trial.study if info.trial else None,  # tuning trials: never leaderboard rows
        "trial_source": info.trial.source if info.trial else None,  # the experiment a trial searched
        "confirms": bool(info.trial.confirms) if info.trial else None,  # a confirmation re-score
        "tuned_from": info.tuned.source if info.tuned else None,
        # CPU-hours = run time x the torch threads it had (tuning.cost); None: the record does not say
        "threads": _threads(record.meta_info.system_info),
    }
    for key, value in _aliased(record.final_metrics()).items():
        if key.startswith("test ") or key in FINAL_KEYS:
            row[key] = _number(value)
    written = train.model_fields_set | set(train.model_extra or {})
    for key in TRAIN_INFO_KEYS:
        if key in written:
            row[key] = _number(getattr(train, key))
    if TOTAL_TIME.key not in written and info.total_time is not None:  # the reference keeps it in run_info only
        row[TOTAL_TIME.key] = _number(info.total_time)
    for key in WINDOW_MEAN_KEYS:
        values = [_number(r[key]) for r in record.window_rows() if key in r]
        values = [v for v in values if not math.isnan(v)]
        if values:  # mean over the logging windows
            row[key] = sum(values) / len(values)
    return row


def load_runs(sources: Path | str | Iterable[Path | str], task: str | None = None,
              warn: Warn | None = None) -> pd.DataFrame:
    """One row per run from result folders (searched recursively) and files, ours or the reference's.

    Columns: `ID_COLUMNS`, `memory_kind`, and each metric the records have (final `test …`,
    `forgetting`, `drift`; `train_info` figures; mean `tokens / sec`). Missing values are NaN.
    Files that are not result records are skipped with `warn(message naming the file)`.
    """
    warn = warn or default_warn
    rows = []
    for path in result_files(sources):
        record = read_record_or_none(path, warn)
        if record is None:
            continue
        try:
            row = run_row(record, path)
        except (AttributeError, TypeError, KeyError) as exc:  # a field of the wrong JSON type
            warn(f"skipped {path}: unexpected record layout ({type(exc).__name__}: {exc})")
            continue
        if not is_name(row["task"]):  # derived from the folder name (reference records name no task)
            warn(f"skipped {path}: task {row['task']!r} (from its folder) is not a name of {NAME_RULE}")
            continue
        if task is None or row["task"] == task:
            rows.append(row)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=ID_COLUMNS + ["memory_kind"])
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def memory_key(runs: pd.DataFrame) -> str:
    """The training-memory column that ranks these runs: the accounted figure when no run used CUDA and
    every run with a memory figure has one (a CPU process's RSS depends on the allocator's history, so
    it can rank methods wrongly), else the allocator's peak (CUDA reserved bytes, or older records)."""
    if ACCOUNTED_MAX.key not in runs or runs.empty:
        return MEMORY_MAX.key
    on_cuda = runs["memory_kind"].eq("cuda-reserved").any() if "memory_kind" in runs else False
    measured = runs[MEMORY_MAX.key].notna() if MEMORY_MAX.key in runs else runs[ACCOUNTED_MAX.key].notna()
    complete = runs.loc[measured, ACCOUNTED_MAX.key].notna().all() and runs[ACCOUNTED_MAX.key].notna().any()
    return ACCOUNTED_MAX.key if complete and not on_cuda else MEMORY_MAX.key


def load_curves(paths: Iterable[Path | str], warn: Warn | None = None) -> pd.DataFrame:
    """Per-step metrics of each run: `path`, `run`, `experiment`, `seed`, `step` and every per-step
    key (`train loss`, `valid <metric>`, `tokens / sec`, …). The final test row is left out."""
    warn = warn or default_warn
    frames = []
    for path in map(Path, paths):
        record = read_record_or_none(path, warn)
        if record is None:
            continue
        info = record.run_info
        seed = info.seed if info.seed is not None else (info.train_config or {}).get("seed")
        steps = [_aliased(r) for r in record.window_rows() if "step" in r]
        if not steps:
            continue
        frame = pd.DataFrame(steps)
        frame = frame[[c for c in frame.columns if frame[c].map(_is_number_or_none).all()]]
        frame.insert(0, "path", str(path))
        frame.insert(1, "run", path.stem)
        frame.insert(2, "experiment", info.experiment_name or path.stem)
        frame.insert(3, "seed", seed if isinstance(seed, int) else None)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["path", "run", "experiment", "seed", "step"])
    return pd.concat(frames, ignore_index=True)


def _is_number_or_none(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


PREDICTION_COLUMNS = ["id", "prompt", "gold", "prediction", "extracted", "correct"]


def load_predictions(path: Path | str, limit: int | None = None, keep=None) -> pd.DataFrame:
    """A predictions sidecar (`<stem>.predictions.jsonl`, or the result JSON next to it) as a table,
    one row per test item; ValueError naming the file when it is unreadable. The file is streamed:
    `limit` stops after that many rows, `keep(row)` selects rows, so a table of a few items out of
    millions never holds the rest (statistics read ids and scores only: analysis/predictions.py)."""
    from peftbench.analysis.predictions import iter_predictions

    rows = []
    for row in iter_predictions(path):
        if keep is None or keep(row):
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    frame = pd.DataFrame(rows)
    for column in PREDICTION_COLUMNS:
        if column not in frame:
            frame[column] = None
    return frame
