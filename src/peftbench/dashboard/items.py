"""Per-item predictions of one run, or of two runs side by side on the same items."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from peftbench.analysis.load import load_predictions

ITEM_COLUMNS = ["id", "question", "gold", "prediction", "extracted", "correct"]
ITEM_KEYS = ["test_set", "id"]  # an item's identity; `test_set` when a task scores several sets
SHARED = ["question", "gold"]  # the same for every run of a task


def items(path: str | Path) -> pd.DataFrame:
    """One run's predictions: test set (if any), id, question, gold, prediction, extracted, correct,
    then whatever else the task records per item (e.g. an image task's similarity). Columns that are
    empty for every item (an image task has no gold answer) are left out."""
    frame = load_predictions(path)
    if "question" not in frame.columns or frame["question"].isna().all():
        frame["question"] = frame["prompt"]
    frame = frame.drop(columns="prompt")
    first = [c for c in ["test_set", *ITEM_COLUMNS] if c in frame.columns]
    ordered = frame[first + [c for c in frame.columns if c not in first]]
    return ordered[[c for c in ordered.columns if c == "id" or ordered[c].notna().any()]]


def side_by_side(path_a: str | Path, path_b: str | Path, only_differing: bool = False) -> pd.DataFrame:
    """Two runs on the items both have (matched by id, and test set): question and gold once, then
    A's and B's answers. `only_differing` keeps items whose extracted answers (else any answer
    column, e.g. similarity) differ."""
    a, b = items(path_a), items(path_b)
    keys = [c for c in ITEM_KEYS if c in a.columns and c in b.columns]
    answers_a = [c for c in a.columns if c not in keys and c not in SHARED]
    answers_b = [c for c in b.columns if c not in keys and c not in SHARED]
    both = a.rename(columns={c: f"{c} A" for c in answers_a}).merge(
        b[keys + answers_b].rename(columns={c: f"{c} B" for c in answers_b}), on=keys, how="inner")
    if only_differing:
        common = [c for c in answers_a if c in answers_b]
        compared = ["extracted"] if "extracted" in common else common
        differs = pd.Series(False, index=both.index)
        for column in compared:
            left, right = both[f"{column} A"].astype(object), both[f"{column} B"].astype(object)
            differs |= (left != right) & ~(left.isna() & right.isna())  # two missing values agree
        both = both[differs]
    return both
