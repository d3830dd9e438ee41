"""All runs as one CSV table: one row per run, its identity columns, then every metric it recorded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from peftbench.analysis.load import ID_COLUMNS, Warn, load_runs
from peftbench.metrics import ordered_columns

FILE_NAME = "runs.csv"
# Where a run's files are is not a property of the run: left out so the table is the same anywhere.
LEFT_OUT = ("path", "predictions_path")


def runs_table(sources: Iterable[Path], warn: Warn) -> pd.DataFrame:
    """Every run under `sources` (any status), identity columns first, then the metrics in the registry's
    reading order (`metrics.ordered_columns`), then any other column; missing values are empty cells."""
    runs = load_runs(list(sources), warn=warn)
    ids = [c for c in ID_COLUMNS + ["memory_kind"] if c in runs.columns and c not in LEFT_OUT]
    known = ordered_columns(runs.columns)
    others = sorted(c for c in runs.columns if c not in ids + known + list(LEFT_OUT))
    table = runs[ids + known + others]
    return table.sort_values(["task", "experiment", "seed"], na_position="last", kind="stable")


def csv_text(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)
