"""Per-item predictions of one run, or of two runs side by side on the same items.

Sidecars are streamed (a run may have millions of items, each with its prompt and answer): the table
shows at most `LIMIT` items, and only those items' text is ever held in memory.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from peftbench.analysis.load import load_predictions
from peftbench.analysis.predictions import iter_predictions

ITEM_COLUMNS = ["id", "question", "gold", "prediction", "extracted", "correct"]
ITEM_KEYS = ["test_set", "id"]  # an item's identity; `test_set` when a task scores several sets
SHARED = ["question", "gold"]  # the same for every run of a task
LIMIT = 2_000  # items a table shows: more is no longer readable in a browser
TEXT = {"prompt", "question", "gold", "prediction"}  # long columns, left out of the first pass


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    if "question" not in frame.columns or frame["question"].isna().all():
        frame["question"] = frame["prompt"]
    frame = frame.drop(columns="prompt")
    first = [c for c in ["test_set", *ITEM_COLUMNS] if c in frame.columns]
    ordered = frame[first + [c for c in frame.columns if c not in first]]
    return ordered[[c for c in ordered.columns if c == "id" or ordered[c].notna().any()]]


def items(path: str | Path, limit: int = LIMIT) -> pd.DataFrame:
    """One run's first `limit` predictions: test set (if any), id, question, gold, prediction,
    extracted, correct, then whatever else the task records per item (e.g. an image task's
    similarity). Columns that are empty for every item (an image task has no gold answer) are left out."""
    return _tidy(load_predictions(path, limit=limit))


def _answers(path: str | Path) -> tuple[dict, set[str], bool]:
    """First pass over a sidecar: {(test_set, id): the short answer columns}, the columns that have a
    value somewhere, and whether rows carry a test set. Prompts and answers' text are not kept."""
    answers: dict = {}
    filled: set[str] = set()
    has_sets = False
    for row in iter_predictions(path):
        has_sets = has_sets or "test_set" in row
        key = (row.get("test_set"), row.get("id"))
        if key[1] is None or isinstance(key[1], (list, dict)) or key in answers:
            continue
        answers[key] = {k: v for k, v in row.items() if k not in TEXT and k not in ITEM_KEYS}
        filled.update(k for k, v in answers[key].items() if v is not None)
    return answers, filled, has_sets


def _differs(a: dict, b: dict, columns: list[str]) -> bool:
    return any(not (a.get(c) is None and b.get(c) is None) and a.get(c) != b.get(c) for c in columns)


def side_by_side(path_a: str | Path, path_b: str | Path, only_differing: bool = False,
                 limit: int = LIMIT) -> pd.DataFrame:
    """Two runs on the items both have (matched by id, and test set), at most `limit` of them:
    question and gold once, then A's and B's answers. `only_differing` keeps items whose extracted
    answers (else any short answer column, e.g. similarity) differ."""
    answers_a, filled_a, sets_a = _answers(path_a)
    answers_b, filled_b, sets_b = _answers(path_b)
    if not (sets_a and sets_b):  # match on id alone when a run does not label its test sets
        answers_a = {(None, k[1]): v for k, v in answers_a.items()}
        answers_b = {(None, k[1]): v for k, v in answers_b.items()}
    common = filled_a & filled_b
    compared = ["extracted"] if "extracted" in common else sorted(common)
    chosen = set()
    for key, mine in answers_a.items():
        if key in answers_b and (not only_differing or _differs(mine, answers_b[key], compared)):
            chosen.add(key)
            if len(chosen) >= limit:
                break
    use_sets = sets_a and sets_b
    pick = lambda row: ((row.get("test_set") if use_sets else None), row.get("id")) in chosen  # noqa: E731
    a = _tidy(load_predictions(path_a, keep=pick))
    b = _tidy(load_predictions(path_b, keep=pick))
    if a.empty or b.empty:
        return pd.DataFrame(columns=[c for c in ITEM_COLUMNS])
    keys = [c for c in ITEM_KEYS if c in a.columns and c in b.columns]
    a, b = a.drop_duplicates(keys), b.drop_duplicates(keys)  # first occurrence, as in the first pass
    only_a = [c for c in a.columns if c not in keys and c not in SHARED]
    only_b = [c for c in b.columns if c not in keys and c not in SHARED]
    return a.rename(columns={c: f"{c} A" for c in only_a}).merge(
        b[keys + only_b].rename(columns={c: f"{c} B" for c in only_b}), on=keys, how="inner")
