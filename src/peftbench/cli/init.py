"""`peftbench init`: experiment folders for your own task file, from the configs peftbench ships."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from peftbench.cli.common import console, user_errors


def init(
    task_file: Path = typer.Option(..., "--task-file", help="Your task declared in YAML (docs/tasks-from-files.md)."),
    methods: str = typer.Option("lora,ia3,vera", help="Methods, comma-separated: each gets its shipped default configuration."),
    model: Optional[str] = typer.Option(None, "--model", help="Base model for every experiment: a Hub id or a local folder (written as the task file's training.model_id); default: the task file's, else the offline SmolLM2-135M."),
    experiments_dir: Path = typer.Option(Path("experiments"), help="Where to write the tree."),
    from_task: str = typer.Option("minimath", help="Shipped task whose default configurations are copied."),
    baseline: bool = typer.Option(True, help="Also write base/zero-shot: the untrained model as a row."),
    force: bool = typer.Option(False, "--force", help="Replace the folders init writes if they exist."),
) -> None:
    """Write experiments/<task>/ for a task file: the task file (its paths still pointing at your data),
    one experiment per method with its shipped default configuration, and the untrained baseline.
    Then: peftbench sweep --task <task> --seeds 0,1; peftbench report."""
    from peftbench.sweep.plan import parse_list
    from peftbench.tasks.from_file.scaffold import scaffold

    with user_errors():
        chosen = parse_list(methods, "methods")
        written = scaffold(task_file, chosen, experiments_dir, model, from_task, baseline, force)
    task = written[0].parent.parent.name if written else "?"
    for folder in written:
        console.print(Text(f"wrote {folder}"))
    console.print(Text(f"next: peftbench sweep --task {task} --seeds 0,1 && peftbench report --results results --task {task}"))
