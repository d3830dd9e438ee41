"""`peftbench doctor`: is this machine ready to benchmark? (the checks are in peftbench/system/doctor.py)"""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from peftbench.cli.common import console


def doctor(
    timeout: float = typer.Option(3.0, min=0.1, help="Seconds to wait for each Hub request."),
) -> None:
    """Check this machine: torch build, accelerators, bitsandbytes, disk and cache folders, Hub access and
    access to the gated reference models; each failed check says how to fix it. Exit 1 if any failed."""
    from peftbench.system.doctor import FAIL, OK, run_checks

    checks = run_checks(timeout)
    table = Table("check", "", "found", "fix", show_lines=False)
    style = {OK: "green", FAIL: "red"}
    for check in checks:
        # Text, not markup: fixes hold literal brackets (pip install 'peftbench[train]').
        table.add_row(Text(check.name), Text(check.status, style=style.get(check.status, "yellow")),
                      Text(check.detail), Text(check.fix))
    console.print(table)
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        console.print(Text(f"{len(failed)} check(s) failed: ", style="red") + Text(", ".join(failed)))
        raise typer.Exit(1)
    console.print(Text("ready", style="green"))
