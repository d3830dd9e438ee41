"""Strict reading of JSON files that a user or another tool hands us (configs, result records).

Every way a file can be wrong ends in one `BadFile` whose message names the file and what was
expected: a dangling or looping symlink (never "file absent": a broken adapter_config.json must not
quietly mean full fine-tuning), a folder, a named pipe or device (opened without blocking, so a FIFO
called `x.json` cannot hang us), text that is not UTF-8, a file over the size limit, JSON nested
deeper than the depth limit, duplicate keys (the reader would silently keep the last one).

Standard library only: the reader side (report, dashboard) imports it without torch.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from peftbench.errors import UserError

CONFIG_MAX_BYTES = 4 * 2**20  # an adapter config or training_params.json is a few KB
RECORD_MAX_BYTES = 256 * 2**20  # a result record with per-step metrics of a very long run
MAX_DEPTH = 64  # our deepest files nest 4 levels; anything near Python's recursion limit is hostile


class BadFile(UserError, ValueError):
    """A file that cannot be read as what it should be. A UserError for the CLI (one line, exit 2) and
    a ValueError for readers that skip bad files with a warning."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def lexists(path: str | os.PathLike) -> bool:
    """Whether anything, even a broken symlink, is at `path`: the test for "this file was given"."""
    return os.path.lexists(path)


def check_regular(path: str | os.PathLike) -> Path:
    """`path` with its symlinks resolved; BadFile unless it is an existing regular file.
    FileNotFoundError (an OSError, not a BadFile) when nothing at all is at `path`."""
    path = Path(path)
    try:
        info = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        if os.path.islink(path):
            raise BadFile(f"{path}: broken symlink (its target {os.readlink(path)!r} does not exist)") from None
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise BadFile(f"{path}: symlink loop (expected a regular file)") from None
        raise BadFile(f"{path}: cannot read ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise BadFile(f"{path}: {_kind(info.st_mode)}, expected a regular file")
    return Path(os.path.realpath(path))


def open_regular(path: str | os.PathLike, max_bytes: int | None = None):
    """A binary file object for `path`, refusing anything but a regular file up to `max_bytes`.
    Opened with O_NONBLOCK and checked on the open descriptor, so a named pipe swapped in after a
    check can neither block us nor be read."""
    path = Path(path)
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise BadFile(f"{path}: cannot read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadFile(f"{path}: {_kind(info.st_mode)}, expected a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            raise BadFile(f"{path}: {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | os.PathLike, max_bytes: int = CONFIG_MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`; BadFile naming the file otherwise."""
    with open_regular(path, max_bytes) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as err:
            raise BadFile(f"{path}: cannot read ({err.strerror})") from None
    if len(data) > max_bytes:  # grew after the size check
        raise BadFile(f"{path}: more than the {max_bytes:,} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadFile(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(text: str, source: str | os.PathLike, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text strictly (duplicate keys and deep nesting refused); BadFile naming `source`."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as err:
        raise BadFile(f"{source}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except _DuplicateKey as dup:
        raise BadFile(f"{source}: duplicate key {dup.key!r} (each key may appear once per object)") from None
    except RecursionError:
        raise BadFile(f"{source}: JSON nested deeper than the {max_depth} levels allowed") from None
    if depth(value) > max_depth:
        raise BadFile(f"{source}: JSON nested deeper than the {max_depth} levels allowed")
    return value


def read_json(path: str | os.PathLike, max_bytes: int = CONFIG_MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Any JSON value from a file, read strictly. FileNotFoundError when nothing is at `path`
    (callers decide whether that is an error); BadFile for everything else that is wrong."""
    return loads(read_text(path, max_bytes), path, max_depth)


def read_json_object(path: str | os.PathLike, max_bytes: int = CONFIG_MAX_BYTES) -> dict:
    """A JSON object from a file; BadFile (also when the file is missing) naming it otherwise."""
    try:
        data = read_json(path, max_bytes)
    except FileNotFoundError:
        raise BadFile(f"{path}: file not found") from None
    if not isinstance(data, dict):
        raise BadFile(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data
