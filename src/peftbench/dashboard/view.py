"""The runs table the dashboard shows, as plain pandas (no Gradio here, so it is testable and reusable).

The table the user sees has readable headers in display units (bytes as MB); the filter box works on
those headers, and on the record's own metric keys through aliases (`train_time > 60`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from peftbench.analysis.filters import filter_mask
from peftbench.metrics import METRICS, is_bytes, is_fraction, metric, ordered_columns
from peftbench.records.status import SUCCESS
from peftbench.analysis.stats import summarize

IDENTITY = ["experiment", "method", "seed", "runs", "model", "source"]  # `runs`: seeds per experiment
CI_SUFFIXES = (" ci_low", " ci_high")
ALL_MODELS = "(all models)"
MB = 2**20


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """Metric columns with at least one value, in the registry's reading order (no CI columns)."""
    return ordered_columns(c for c in runs.columns if not c.endswith(CI_SUFFIXES) and runs[c].notna().any())


def header(column: str) -> str:
    """Display name: the metric's label without its parenthesis, with the unit shown in the table
    (accuracies in %, as the report writes them)."""
    declared = METRICS.get(column)
    if declared is None:
        return f"{column} %" if is_fraction(column) else column
    label = re.sub(r"\s*\(.*\)$", "", declared.label)
    if is_bytes(column):
        return f"{label} MB"
    if is_fraction(column):
        return f"{label} %"
    return f"{label} s" if column.endswith("_time") else label


def display_values(column: str, values: pd.Series, percent: bool = True) -> pd.Series:
    """Values in the table's units: bytes as MB, fractions as percent (`percent=False`: as fractions,
    what the filter compares: `30%` means 0.3)."""
    numbers = pd.to_numeric(values, errors="coerce")
    declared = metric(column)
    digits = declared.digits if declared else 4
    if is_bytes(column):
        return (numbers / MB).round(digits)
    if is_fraction(column):
        return (numbers * 100).round(2) if percent else numbers
    if digits == 0:
        return numbers.round().astype("Int64")
    return numbers.round(digits)


def table_view(runs: pd.DataFrame, percent: bool = True) -> pd.DataFrame:
    """The runs as the table shows them: same index labels as `runs`, best first by the main quality
    metric; identity columns that are empty, or constant (model, source), are left out. `percent=False`:
    fractions as fractions (the filter's view)."""
    view = pd.DataFrame(index=runs.index)
    for column in IDENTITY:
        if column not in runs.columns or runs[column].isna().all():
            continue
        if column in ("model", "source") and runs[column].nunique(dropna=False) <= 1:
            continue  # the same for every row: it repeats the selection above the table
        view[column] = runs[column]
    columns = metric_columns(runs)
    for column in columns:
        view[header(column)] = display_values(column, runs[column], percent)
        for suffix in CI_SUFFIXES:  # per-experiment view: the 95% interval over seeds
            if column + suffix in runs.columns:
                view[header(column) + suffix.replace("_", " ")] = display_values(column, runs[column + suffix], percent)
    quality = [header(c) for c in columns if c.startswith("test ")]
    if quality:  # best first by the task's main quality metric; missing values last
        view = view.sort_values(quality[0], ascending=False, na_position="last", kind="stable")
    return view


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as empty cells (None), never NaN or a placeholder number."""
    return frame.astype(object).where(frame.notna(), None)


def aliases(runs: pd.DataFrame) -> dict[str, str]:
    """Record keys -> displayed headers, so a filter may use either name."""
    return {column: header(column) for column in metric_columns(runs) if header(column) != column}


def select(runs: pd.DataFrame, task: str | None, model: str | None) -> pd.DataFrame:
    """Successful runs of one task (and model, unless `ALL_MODELS`), tuning trials left out."""
    chosen = runs
    if "status" in runs.columns:  # a cancelled run's partial figures are no result
        chosen = chosen[chosen["status"].fillna(SUCCESS) == SUCCESS]
    if "trial" in runs.columns:  # tuning trials chose on the validation split: no final results
        chosen = chosen[chosen["trial"].isna()]
    if task is not None:
        chosen = chosen[chosen["task"] == task]
    if model and model != ALL_MODELS:
        chosen = chosen[chosen["model"] == model]
    return chosen


def per_experiment(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment: each metric's mean over its runs (seeds), `runs` (how many), and for
    the quality metrics (`test …`) the 95% Student-t interval over seeds (empty with one seed)."""
    metrics = metric_columns(runs)
    summary = summarize(runs, metrics)
    frame = summary[["source", "task", "experiment", "method", "model"]].copy()
    frame["runs"] = summary["n_runs"]
    for metric in metrics:
        frame[metric] = summary[f"{metric} mean"]
        if metric.startswith("test "):
            frame[metric + " ci_low"] = summary[f"{metric} ci_low"]
            frame[metric + " ci_high"] = summary[f"{metric} ci_high"]
    return frame


def filtered(runs: pd.DataFrame, text: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, view) rows the filter keeps; raises `InvalidFilter` for a bad filter."""
    mask = filter_mask(table_view(runs, percent=False), text or "", aliases(runs))
    kept = mask.index[mask.to_numpy()]  # in the table's order
    return runs.loc[kept], table_view(runs).loc[kept]


def headline(kept: pd.DataFrame, total: int, noun: str = "runs", trials: int = 0) -> str:
    """"k of n experiments shown", and what is not: no "best" here — the best single seed is no finding,
    the answer above the table (the verdicts) is."""
    text = f"{len(kept)} of {total} {noun} shown"
    if trials:
        text += f"; {trials} tuning trial runs not shown (they chose on the validation split)"
    return text


def trial_count(runs: pd.DataFrame, task: str | None) -> int:
    """Successful tuning-trial runs of the task, which the table leaves out."""
    if "trial" not in runs.columns:
        return 0
    of_task = runs if task is None else runs[runs["task"] == task]
    return int(of_task["trial"].notna().sum())


def markdown_text(text: str) -> str:
    """`text` shown literally in Markdown: run names like `lr_0.0003-random_seed_42` are not italics."""
    return re.sub(r"([\\`*_\[\]|<>~])", r"\\\1", text)


def tasks(runs: pd.DataFrame) -> list[str]:
    """Task names, the one with the most runs first (the page opens on it), then alphabetically."""
    counts = select(runs, None, None)["task"].dropna().astype(str).value_counts()
    return sorted(counts.index, key=lambda task: (-counts[task], task))


def models(runs: pd.DataFrame, task: str | None) -> list[str]:
    found = sorted(select(runs, task, None)["model"].dropna().astype(str).unique())
    return [ALL_MODELS, *found] if len(found) > 1 else found or [ALL_MODELS]


def seed_suffix(runs: pd.DataFrame) -> pd.Series:
    """" (seed k)" per run, "" where the seed is unknown; text even for an empty frame."""
    seeds = runs["seed"] if "seed" in runs.columns else pd.Series(None, index=runs.index, dtype=object)
    return pd.Series([f" (seed {s})" if pd.notna(s) else "" for s in seeds], index=runs.index, dtype=object)


def run_choices(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, predictions file) of each run that has a predictions sidecar."""
    with_items = runs[runs["predictions_path"].notna()] if "predictions_path" in runs.columns else runs.iloc[:0]
    labels = with_items["run"].astype(str)
    if "source" in with_items.columns and with_items["source"].nunique() > 1:
        labels = labels + " [" + with_items["source"].astype(str) + "]"
    return sorted(zip(labels, with_items["predictions_path"].astype(str)))


def samples_images(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(image, caption) of the image runs that saved a `<stem>.samples.png` next to their result."""
    if "path" not in runs.columns:
        return []
    captions = runs["experiment"].astype(str).astype(object) + seed_suffix(runs)
    images = runs["path"].map(lambda p: Path(str(p)).with_suffix(".samples.png"))
    return [(str(image), captions[i]) for i, image in images.items() if image.is_file()]
