"""`peftbench dashboard`: serve the results in a local web page (Gradio)."""

from __future__ import annotations

from pathlib import Path

import typer

from peftbench.errors import UserError


def dashboard(
    results: list[Path] = typer.Option(
        [Path("results")], "--results",
        help="Results folder or result file, searched recursively; repeat to show several "
             "(e.g. --results results --results reference/MetaMathQA)."),
    port: int = typer.Option(7860, min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1",
                             help="Address to listen on; 0.0.0.0 makes the page reachable from other machines."),
) -> None:
    """Serve a dashboard of result files: filterable, sortable table, Pareto plot, CSV export, and
    per-item predictions of any run (two side by side). Runs offline; stop with Ctrl-C."""
    from peftbench.cli import _fail, console

    try:
        missing = [str(p) for p in results if not p.exists()]
        if missing:
            raise UserError(f"--results {missing[0]}: no such file or folder")
        from peftbench.dashboard.app import serve

        console.print(f"peftbench dashboard on http://{host}:{port} (Ctrl-C to stop)", markup=False)
        try:
            serve(results, host=host, port=port)
        except OSError as err:  # port taken, address not local, ...
            raise UserError(f"--port {port} / --host {host}: cannot serve there ({err})") from None
    except UserError as err:
        _fail(err)
