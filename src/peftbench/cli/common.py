"""What every command shares: the consoles, and how a user mistake ends a command (one line, exit 2).

Text from the user or from files (paths, experiment names, error messages) is printed as plain text,
never as rich markup: a folder called `[bold]` must print as itself, not crash the command.
"""

from __future__ import annotations

import contextlib
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from peftbench.errors import UserError
from peftbench.system.signals import EXIT_USER_ERROR

# Piped output (CI logs, `| tee`) would default to 80 columns and squeeze the comparison table.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True)


def _one_line(message: str) -> Text:
    # A newline inside a name or key stays visible as \n: an error or a warning is one line.
    return Text(message.replace("\r", "\\r").replace("\n", "\\n"))


def fail(err: UserError | str) -> NoReturn:
    err_console.print(Text("error: ", style="red") + _one_line(str(err)), highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USER_ERROR)


def warn(message: str) -> None:
    err_console.print(Text("warning: ", style="yellow") + _one_line(message), highlight=False, soft_wrap=True)


@contextlib.contextmanager
def user_errors():
    """Turn a UserError raised inside into one line on stderr and exit code 2."""
    try:
        yield
    except UserError as err:
        from peftbench.records.names import remove_unused_folders

        remove_unused_folders()  # an output folder made just for this command, still empty: gone again
        fail(err)


def require_training() -> None:
    """What every command that trains checks before it starts: the [train] extra is installed, and the
    cache folders the environment names can be written (a UserError otherwise)."""
    from peftbench.system.extras import require_extra
    from peftbench.system.folders import check_caches

    require_extra("train")
    check_caches()


MODEL_HELP = ("Base model of every run: a Hub id or a local folder (the training parameter model_id, as "
              "--set model_id=... would set it).")


def run_overrides(set_: list[str], max_steps: int | None = None, model: str | None = None,
                  seed: int | None = None) -> dict:
    """`--set`, `--model`, `--max-steps` and `--seed` as one overrides dict: the one route these options
    take into a run's configuration, for `run`, `sweep` and `tune` alike (a UserError for a malformed
    --set). An option wins over `--set` of the same key, keeping that key's place; an option's new key
    comes after the `--set` keys, in this order (`tune` writes them into tuned experiments' files)."""
    from peftbench.planning.config import parse_overrides

    overrides = parse_overrides(set_)
    if model is not None:
        overrides["model_id"] = model
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    if seed is not None:
        overrides["seed"] = seed
    return overrides
