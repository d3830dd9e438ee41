"""Generated blocks in hand-written Markdown: the text between a START and an END marker is replaced by
a script's output, or (`--check`) only compared with it — how the README tables stay true to their
sources while the prose around them is edited by hand."""

from __future__ import annotations

import sys
from pathlib import Path


def updated(text: str, start: str, end: str, block: str, path: Path) -> str:
    head, sep, rest = text.partition(start)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise SystemExit(f"{path}: markers {start} / {end} not found")
    return f"{head}{start}\n{block}{end}{tail}"


def write_or_check(path: Path, blocks: list[tuple[str, str, str]], argv: list[str], script: str) -> int:
    """Write each (start, end, block) between its markers in `path`; with --check in `argv`, exit
    status 1 if any differs."""
    text = path.read_text()
    new = text
    for start, end, block in blocks:
        new = updated(new, start, end, block, path)
    if "--check" in argv:
        if new != text:
            print(f"{path} is out of date: run python {script}", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0
