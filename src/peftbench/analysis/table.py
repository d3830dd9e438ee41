"""A comparison table of result files, for the terminal (columns: the registry's `table_metrics`; rows:
`load.run_row`, the runs table's row of each record)."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table
from rich.text import Text

from peftbench.analysis.load import run_row
from peftbench.metrics import format_value, of_role, table_metrics
from peftbench.records.record import read_record


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _quality(row: dict) -> float:
    """What a row is ranked by: its first quality figure of the final row, in declaration order (test
    accuracy, else similarity); 0 without one."""
    return next((row[m.key] for m in of_role("quality", "final") if _present(row.get(m.key))), 0)


def comparison_table(paths: list[Path], title: str = "") -> Table:
    rows = sorted((run_row(read_record(p), Path(p)) for p in paths), key=lambda r: -_quality(r))
    present = [m for m in table_metrics() if any(_present(r.get(m.key)) for r in rows)]
    table = Table(title=title)
    table.add_column("experiment")
    for m in present:
        table.add_column(m.short, justify="right")
    for row in rows:
        # Text, not markup: an experiment name is a folder name and may hold `[...]`.
        table.add_row(Text(str(row["experiment"])), *(format_value(row.get(m.key), m.key) for m in present))
    return table
