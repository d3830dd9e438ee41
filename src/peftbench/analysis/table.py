"""A comparison table of result files, for the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from peftbench.results import load_result

# (header, where in the record, how to show it)
COLUMNS = [
    ("test acc", "test accuracy", "{:.1%}"),
    ("gsm8k acc", "test accuracy gsm8k", "{:.1%}"),
    ("similarity", "test similarity", "{:.3f}"),
    ("forgetting", "forgetting", "{:+.3f}"),
    ("drift", "drift", "{:.4f}"),
    ("train s", "train_time", "{:.0f}"),
    ("total s", "total_time", "{:.0f}"),
    ("train mem MB", "accelerator_memory_max", "mb"),
    ("tok/s", "tokens / sec", "{:.0f}"),
    ("trainable", "num_trainable_params", "{:,}"),
    ("file KB", "file_size", "kb"),
]


def summarize(record: dict) -> dict:
    """One flat row: final test metrics, training figures, and the mean tokens/s over windows."""
    info = record["train_info"]
    metrics = info.get("metrics") or []
    final = metrics[-1] if metrics else {}
    speeds = [m["tokens / sec"] for m in metrics if m.get("tokens / sec")]
    row = {"experiment": record["run_info"]["experiment_name"], "status": info.get("status")}
    row.update({k: v for k, v in final.items() if k.startswith("test ") or k in ("forgetting", "drift")})
    for key in ("train_time", "total_time", "accelerator_memory_max", "num_trainable_params", "file_size", "memory_kind"):
        row[key] = info.get(key)
    row["tokens / sec"] = sum(speeds) / len(speeds) if speeds else None
    return row


def format_value(value, how: str) -> str:
    """A figure as shown in tables: a format spec, or "mb"/"kb" for byte counts; None as empty."""
    if value is None:
        return ""
    if how == "mb":
        return f"{value / 2**20:,.0f}"
    if how == "kb":
        return f"{value / 2**10:,.0f}"
    return how.format(value)


def comparison_table(paths: list[Path], title: str = "") -> Table:
    rows = sorted((summarize(load_result(p)) for p in paths), key=lambda r: -(r.get("test accuracy") or r.get("test similarity") or 0))
    present = [c for c in COLUMNS if any(r.get(c[1]) is not None for r in rows)]
    table = Table(title=title)
    table.add_column("experiment")
    for header, _, _ in present:
        table.add_column(header, justify="right")
    for row in rows:
        # Text, not markup: an experiment name is a folder name and may hold `[...]`.
        table.add_row(Text(str(row["experiment"])), *(format_value(row.get(key), how) for _, key, how in present))
    return table
