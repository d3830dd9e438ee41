"""Names that become parts of paths we write (task, method, experiment, source), and joining them
under a root so that no name read from a file or the command line can point outside it.

A result file is data from anyone: its `run_info.task` once decided where `import` wrote, so `../..`
or an absolute path escaped the results store. Every path built from such a value goes through
`join_under`, which validates each part and then checks the resolved result (symlinks included).
Standard library only (reader side).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from peftbench.errors import UserError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
NAME_RULE = "1-100 letters, digits, '.', '_', '+', '-', starting with a letter or digit, no '..'"


def is_name(value: object) -> bool:
    """Whether `value` is a string usable as one path component (task, method, experiment, source)."""
    return isinstance(value, str) and NAME.fullmatch(value) is not None and ".." not in value


def check_name(value: object, what: str) -> str:
    """`value` if it is a valid name; UserError naming `what` and the value otherwise."""
    if not is_name(value):
        raise UserError(f"{what} {value!r}: expected a name of {NAME_RULE}")
    return value  # type: ignore[return-value]


def is_experiment_name(value: object) -> bool:
    """`<method>/<name>` (ours and the reference suite's) or a bare name, every part a valid name."""
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    return 1 <= len(parts) <= 2 and all(is_name(part) for part in parts)


def is_within(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether `path`, with symlinks and `..` resolved, is `root` or below it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def join_under(root: str | os.PathLike, *parts: str, what: str = "name", last_is_file: bool = False,
               contained: bool = True) -> Path:
    """`root / part / ...` where every part is a valid name (the last may be any plain file name when
    `last_is_file`), and the result, resolved, stays under `root`; UserError otherwise.

    `contained=False` skips the resolved-path check, for paths under the user's own results folder
    (`run`, `sweep`): names from their experiment folders cannot escape, and a task folder they
    linked to another disk is theirs to make. Paths named by a file we read (`import`, `report`)
    keep it."""
    for index, part in enumerate(parts):
        if last_is_file and index == len(parts) - 1:
            _check_file_name(part, what)
        else:
            check_name(part, what)
    path = Path(root, *parts)
    if contained and not is_within(path, root):
        # Reachable only through a symlink inside root that points elsewhere.
        raise UserError(f"{path}: resolves outside {root} (a symlink?); refusing to write there")
    return path


def _check_file_name(name: str, what: str) -> None:
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or "\0" in name or os.sep in name):
        raise UserError(f"{what} {name!r}: expected a plain file name")


# Folders probe_writable created in this process (the topmost new one of each): a command that then
# stops on a user mistake removes those still empty (`remove_unused_folders`), leaving nothing behind.
_CREATED: list[Path] = []


def remove_unused_folders() -> None:
    """Remove the folders probe_writable created that are still empty (bottom-up; never one with a file)."""
    while _CREATED:
        top = _CREATED.pop()
        for dirpath, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
            try:
                os.rmdir(dirpath)  # fails, harmlessly, on a folder that holds anything
            except OSError:
                pass


def probe_writable(folder: str | os.PathLike, what: str = "--output-dir") -> Path:
    """Create `folder` (and its parents) and prove a file can be written in it, before hours of work
    are spent on a result that could not be saved; UserError naming the folder otherwise."""
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise UserError(f"{what} {folder}: exists and is not a folder")
    top = folder.absolute()
    while not top.parent.exists() and top.parent != top:
        top = top.parent
    try:
        if not top.exists():
            _CREATED.append(top)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{what} {folder}: cannot create the folder ({err.strerror})") from None
    probe = folder / f".peftbench-write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(probe, "x") as handle:
            handle.write("probe")
    except OSError as err:
        raise UserError(f"{what} {folder}: cannot write there ({err.strerror})") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return folder
