"""Read a data split from a Hub dataset or a local JSON/JSONL file, with the `datasets` library.

A source is `owner/name[:config]` (Hub; split given by the task) or a path to a .json/.jsonl file.
Local files let users bring their own data and let tests run the full-scale tasks offline.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from peftbench.errors import UserError


def is_local(source: str) -> bool:
    return source.endswith((".json", ".jsonl")) or Path(source).exists()


def load_rows(source: str, split: str, n: int | None = None, streaming: bool = False) -> list[dict]:
    """The first `n` rows (all when None) of `source`; `streaming` avoids downloading a huge corpus."""
    from datasets import load_dataset

    try:
        if is_local(source):
            if not Path(source).is_file():
                raise UserError(f"data source '{source}': file not found")
            ds = load_dataset("json", data_files=source, split="train")
        else:
            name, _, config = source.partition(":")
            ds = load_dataset(name, config or None, split=split, streaming=streaming)
    except UserError:
        raise
    except Exception as err:  # datasets raises many types for a missing dataset or no network
        raise UserError(f"data source '{source}' (split {split}): {str(err).splitlines()[0]}") from None
    rows = islice(ds, n) if n is not None else ds
    return [dict(row) for row in rows]


def local_row_count(source: str) -> int | None:
    """Rows of a local JSON/JSONL source, counted without `datasets` (planning runs before any model or
    data loads); None for a Hub source or a file that cannot be counted here (the run reads it)."""
    import json

    path = Path(source)
    if not is_local(source) or not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            if path.suffix == ".json":
                head = handle.read(1).lstrip()
                handle.seek(0)
                if head == b"[":  # one JSON array; anything else is read by `datasets` as JSON lines
                    rows = json.load(handle)
                    return len(rows) if isinstance(rows, list) else None
            return sum(1 for line in handle if line.strip())
    except (OSError, ValueError, RecursionError):
        return None


def source_info(source: str) -> dict:
    """What identifies a source in meta_info: the Hub revision when available, else the file path."""
    if is_local(source):
        return {"path": str(Path(source).resolve())}
    try:
        from huggingface_hub import HfApi

        info = HfApi().dataset_info(source.partition(":")[0])
        return {"id": source, "sha": info.sha, "created_at": str(info.created_at)}
    except Exception:  # offline: the identity is still recorded, without the revision
        return {"id": source, "sha": None}
