"""The metrics the reader knows: column name in the runs table, better direction, label, format.

One place for these so the leaderboard, Pareto fronts, report and dashboard agree. Column names are
the keys of the result record (final metrics row or `train_info`), so a new task's `test <metric>`
shows up without code here; directions for unknown columns are guessed by `direction`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    column: str
    higher_is_better: bool
    label: str
    fmt: str  # a format spec, or "mb"/"kb" for byte counts


METRICS: list[Metric] = [
    Metric("test accuracy", True, "test accuracy", "{:.1%}"),
    Metric("test accuracy gsm8k", True, "GSM8K accuracy", "{:.1%}"),
    Metric("test similarity", True, "similarity", "{:.3f}"),
    Metric("forgetting", False, "forgetting (Δ cross-entropy)", "{:+.3f}"),
    Metric("drift", False, "drift", "{:.4f}"),
    Metric("train_time", False, "train time (s)", "{:.0f}"),
    Metric("total_time", False, "total time (s)", "{:.0f}"),
    Metric("accelerator_memory_max", False, "train memory peak", "mb"),
    Metric("accelerator_memory_reserved_avg", False, "train memory mean", "mb"),
    Metric("accelerator_memory_reserved_99th", False, "train memory p99", "mb"),
    Metric("eval_memory_max", False, "eval memory peak", "mb"),
    Metric("file_size", False, "file size", "kb"),
    Metric("num_trainable_params", False, "trainable parameters", "{:,.0f}"),
    Metric("tokens / sec", True, "tokens/s", "{:.0f}"),
]

BY_COLUMN = {m.column: m for m in METRICS}


def direction(column: str) -> bool:
    """True when higher is better. Unknown `test …`/`valid …` columns are quality metrics (higher);
    anything else unknown is treated as a cost (lower)."""
    if column in BY_COLUMN:
        return BY_COLUMN[column].higher_is_better
    return column.startswith(("test ", "valid "))
