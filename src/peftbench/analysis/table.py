"""A comparison table of result files, for the terminal (columns: the registry's `table_metrics`)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from peftbench.metrics import TOKENS_PER_SEC, format_value, table_metrics
from peftbench.records.record import ResultRecord
from peftbench.records.record import read_record


def summarize(record: ResultRecord) -> dict:
    """One flat row: final test metrics, training figures, and the mean tokens/s over windows."""
    info = record.train_info
    speeds = [m[TOKENS_PER_SEC.key] for m in record.window_rows() if m.get(TOKENS_PER_SEC.key)]
    row = {"experiment": record.run_info.experiment_name, "status": info.status}
    row.update({k: v for k, v in record.final_metrics().items()
                if k.startswith("test ") or k in ("forgetting", "drift")})
    for key in ("train_time", "total_time", "accelerator_memory_max", "accounted_memory_max", "num_trainable_params",
                "file_size", "memory_kind"):
        row[key] = getattr(info, key)
    row[TOKENS_PER_SEC.key] = sum(speeds) / len(speeds) if speeds else None
    return row


def comparison_table(paths: list[Path], title: str = "") -> Table:
    rows = sorted((summarize(read_record(p)) for p in paths), key=lambda r: -(r.get("test accuracy") or r.get("test similarity") or 0))
    present = [m for m in table_metrics() if any(r.get(m.key) is not None for r in rows)]
    table = Table(title=title)
    table.add_column("experiment")
    for m in present:
        table.add_column(m.short, justify="right")
    for row in rows:
        # Text, not markup: an experiment name is a folder name and may hold `[...]`.
        table.add_row(Text(str(row["experiment"])), *(format_value(row.get(m.key), m.key) for m in present))
    return table
