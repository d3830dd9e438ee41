"""What other libraries print: hidden by default, shown with `-v`, never ahead of our own messages.

Libraries a run imports log warnings about features the run does not use: bitsandbytes, imported by
peft whenever it is installed, tries to fetch a CPU kernel from the Hub on CPUs with AVX512-BF16 and
logs two lines when it cannot; transformers and datasets log their own notices. With no handler
configured, Python's last-resort handler prints them to stderr, ahead of a user's one-line error.
`configure` installs one handler on the root logger instead, which shows

- peftbench's own loggers (`peftbench.*`) from WARNING up, always;
- every other library's records from ERROR up by default, WARNING with `-v`, everything with `-vv`;

and routes Python warnings raised outside peftbench (`warnings.warn` in a library) the same way.
The verbosity travels to a sweep's worker processes in PEFTBENCH_VERBOSITY.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

ENV = "PEFTBENCH_VERBOSITY"
# Verbosity 0, 1, 2+: the lowest level of a third-party record that is shown.
THIRD_PARTY_LEVELS = (logging.ERROR, logging.WARNING, logging.DEBUG)
OWN = "peftbench"
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # the peftbench package, not system/


class _Gate(logging.Filter):
    """Our records from WARNING up; a library's from the level the verbosity allows."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.third_party = THIRD_PARTY_LEVELS[min(max(verbosity, 0), len(THIRD_PARTY_LEVELS) - 1)]

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN or record.name.startswith(OWN + ".")
        return record.levelno >= (logging.WARNING if own else self.third_party)


def verbosity_from_env() -> int:
    """The verbosity a parent process chose (0 when unset or not a number)."""
    try:
        return max(int(os.environ.get(ENV, "0")), 0)
    except ValueError:
        return 0


def library_level() -> int:
    """The lowest level of a library's message to show, for libraries with their own handlers
    (transformers, datasets, diffusers set verbosity instead of propagating to the root logger)."""
    return THIRD_PARTY_LEVELS[min(verbosity_from_env(), len(THIRD_PARTY_LEVELS) - 1)]


def quiet_transformers() -> None:
    """peftbench draws its own progress bars; transformers' per-load bars and notices are noise (shown
    with `peftbench -v`)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity(library_level())
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A warning raised by peftbench's own code is meant for the user: one line, as our CLI words them.
    # One raised inside a library goes to logging under its category, where the gate decides.
    if str(filename).startswith(_PACKAGE_DIR):
        print(f"warning: {message}", file=file or sys.stderr)
        return
    logging.getLogger(f"py.warnings.{category.__name__}").warning("%s:%s: %s", filename, lineno, message)


def configure(verbosity: int | None = None) -> int:
    """Install the gate on the root logger (replacing an earlier one) and export the verbosity."""
    verbosity = verbosity_from_env() if verbosity is None else max(verbosity, 0)
    os.environ[ENV] = str(verbosity)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_peftbench", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._peftbench = True  # type: ignore[attr-defined]
    handler.addFilter(_Gate(verbosity))
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    # The root logger's level filters before any handler: let through what the gate may show.
    root.setLevel(min(logging.WARNING, library_level()))
    warnings.showwarning = _show_warning
    return verbosity
