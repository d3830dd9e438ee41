"""Streaming reads of predictions sidecars (`<stem>.predictions.jsonl`), one line at a time.

A sidecar holds a run's prompts and answers: a kilobyte or more per test item. Statistics need two
values per item (its id and its score), so they are read line by line and nothing else is kept:
memory grows with the number of items, never with the text in the files. Reader side: numpy and the
standard library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from peftbench.records.results import FORGETTING_SET, PREDICTIONS_SUFFIX, predictions_path
from peftbench.safe_json import BadFile, MAX_DEPTH, depth, open_regular

MAX_LINE_BYTES = 16 * 2**20  # one item's prompt and answer; a longer line is not a prediction row


def sidecar_of(path: Path | str) -> Path:
    """The sidecar itself, or the one next to a result JSON."""
    path = Path(path)
    return path if path.name.endswith(PREDICTIONS_SUFFIX) else predictions_path(path)


def iter_predictions(path: Path | str, forgetting: bool = False) -> Iterator[dict]:
    """The test items of a sidecar in file order (`forgetting`: instead, its per-text rows on the
    forgetting sample); ValueError naming the file (and line) when it cannot be read: missing, not a
    regular file (a named pipe would block), not UTF-8, not one JSON object per line."""
    path = sidecar_of(path)
    try:
        handle = open_regular(path)
    except BadFile:
        raise
    except OSError as exc:
        raise ValueError(f"{path}: cannot read predictions ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), 1):
            if len(raw) > MAX_LINE_BYTES:
                raise ValueError(f"{path}: line {number} is longer than {MAX_LINE_BYTES:,} bytes")
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError(f"{path}: line {number} is not UTF-8 text") from None
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ValueError(f"{path}: line {number} is not valid JSON ({exc})") from None
            if not isinstance(row, dict) or depth(row) > MAX_DEPTH:
                raise ValueError(f"{path}: line {number} is not a JSON object of a prediction")
            if (row.get("test_set") == FORGETTING_SET) == forgetting:
                yield row


def _score(value) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return math.nan


def scan_scores(path: Path | str, score: str = "correct",
                test_sets: set[str] | None = None) -> tuple[list, np.ndarray] | None:
    """(ids, scores) of a sidecar's items, first occurrence of each id, in file order; rows without an
    id or a score are left out. `test_sets` keeps rows whose `test_set` is one of them (or absent).
    None when no row has the `score` column at all (e.g. `similarity` in a text run)."""
    ids: list = []
    seen: set = set()
    scores: list[float] = []
    has_column = False
    for row in iter_predictions(path):
        has_column = has_column or score in row
        item = row.get("id")
        if item is None or isinstance(item, (list, dict, float)) or item in seen:
            continue
        if test_sets is not None and row.get("test_set") is not None and row["test_set"] not in test_sets:
            continue
        value = _score(row.get(score))
        if math.isnan(value):
            continue
        seen.add(item)
        ids.append(item)
        scores.append(value)
    if not has_column:
        return None
    return ids, np.asarray(scores, dtype=float)
