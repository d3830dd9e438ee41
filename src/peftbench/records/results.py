"""Result files on disk: atomic writes, where each status goes (results/ or cancelled_results/), the
sidecars beside a record, and finding results.

The seam between runner and reader (docs/design.md, "Result record"): no torch here, the dashboard
imports it on a laptop without the training stack. The record itself is `peftbench.records.record`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

from peftbench.errors import UserError
from peftbench.records.names import join_under, probe_writable
from peftbench.records.record import ResultRecord
from peftbench.records.status import CANCELLED, SUCCESS

PREDICTIONS_SUFFIX = ".predictions.jsonl"
# A sidecar's rows are test items, except those of this `test_set`: the text pipeline's per-text
# cross-entropy on the forgetting sample (`nll`, `tokens`), which paired forgetting verdicts read.
FORGETTING_SET = "forgetting"
SAMPLES_SUFFIX = ".samples.png"
_TMP_SUFFIX = ".tmp"


def finite_or_none(value: Any) -> Any:
    """Replace nan/inf by None, recursively: strict JSON readers (browsers, jq) reject NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def _to_json(data: Any, **kwargs) -> str:
    # allow_nan=False: a non-finite value that slipped past the conversion is a bug, not a "NaN" token.
    return json.dumps(finite_or_none(data), allow_nan=False, ensure_ascii=False, **kwargs)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that readers see either the old file or the complete new one, never a part."""
    _atomic_write(Path(path), text, "x", "utf-8")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`atomic_write_text` for binary files (the sample grid's PNG)."""
    _atomic_write(Path(path), data, "xb", None)


def _atomic_write(path: Path, data: str | bytes, mode: str, encoding: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target: os.replace is only atomic within one file system. A hidden name that
    # ends in .tmp keeps find_results and globbing users from picking it up.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
    try:
        with open(tmp, mode, encoding=encoding) as handle:
            handle.write(data)
            handle.flush()
            # Without fsync, a crash after the rename can leave an empty file under the final name.
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: a cancelled run must not leave temp files behind
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable. Best effort: not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON, atomically; nan/inf become null."""
    atomic_write_text(Path(path), _to_json(data, indent=2) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write one JSON object per line, atomically; nan/inf become null."""
    # Serialise everything before touching the disk, so a bad row fails without any file work.
    text = "".join(_to_json(row) + "\n" for row in rows)
    atomic_write_text(Path(path), text)


def cancelled_dir(results_dir: str | os.PathLike) -> Path:
    """Sibling folder for runs that did not succeed: `results` -> `cancelled_results`."""
    results_dir = Path(results_dir)
    if not results_dir.name:  # "." or "/" have no name to prefix
        results_dir = results_dir.resolve()
    return results_dir.with_name("cancelled_" + results_dir.name)


def probe_results_folder(results_dir: str | os.PathLike, what: str = "--output-dir") -> None:
    """Create the results folder and prove a file can be written there, before any model loads; and
    that the cancelled folder beside it, where a failed run's record goes, can be made or written.
    UserError naming the folder otherwise (then nothing is written)."""
    probe_writable(results_dir, what)
    cancelled = cancelled_dir(results_dir)
    if os.path.lexists(cancelled):
        probe_writable(cancelled, f"{what} (where failed runs go)")
    elif not os.access(cancelled.parent, os.W_OK):
        raise UserError(f"{what} (where failed runs go) {cancelled}: cannot create it in {cancelled.parent}")


def result_path(results_dir: str | os.PathLike, task: str, stem: str, status: str) -> Path:
    """Where a run's result JSON goes: only successes land in `results_dir`."""
    base = Path(results_dir) if status == SUCCESS else cancelled_dir(results_dir)
    # Task and stem come from validated experiment names (experiment.load_experiment); checked again
    # here because this is the path every run writes.
    return join_under(base, task, f"{stem}.json", what="result", last_is_file=True, contained=False)


def predictions_path(result_json_path: str | os.PathLike) -> Path:
    """The predictions sidecar next to a result file: `<stem>.predictions.jsonl`."""
    result_json_path = Path(result_json_path)
    return result_json_path.with_name(result_json_path.stem + PREDICTIONS_SUFFIX)


def samples_path(result_json_path: str | os.PathLike) -> Path:
    """The sample grid of an image run next to its result file: `<stem>.samples.png`."""
    result_json_path = Path(result_json_path)
    return result_json_path.with_name(result_json_path.stem + SAMPLES_SUFFIX)


CAPABILITIES = ("merge", "switch", "base", "quantized", "layers")  # the capability matrix's columns


def capabilities_path(results_dir: str | os.PathLike, task: str) -> Path:
    """Where `peftbench methods --capabilities --save-to` leaves a task's capability matrix in a results
    folder; hidden, so the record loader skips it, and the report shows it as a section."""
    return Path(results_dir) / ".methods" / f"{task}.capabilities.json"


def write_run(
    record: ResultRecord, predictions: list[dict], results_dir: str | os.PathLike, task: str, stem: str
) -> Path:
    """Write a run's result (and predictions sidecar) into the folder its status calls for."""
    status = record.status
    path = result_path(results_dir, task, stem, status)
    sidecar = predictions_path(path)
    # Sidecar first: a result file that exists implies a complete sidecar.
    if predictions:
        atomic_write_jsonl(sidecar, predictions)
    else:
        # An older run's predictions would otherwise be read as this run's.
        sidecar.unlink(missing_ok=True)
    atomic_write_json(path, record.to_json())
    if status == SUCCESS:
        # A rerun that succeeded supersedes the earlier failure of the same experiment.
        stale = result_path(results_dir, task, stem, CANCELLED)
        stale.unlink(missing_ok=True)
        predictions_path(stale).unlink(missing_ok=True)
    return path


def find_results(results_dir: str | os.PathLike, task: str | None = None) -> dict[str, Path]:
    """Result files under `results_dir/<task>/`, keyed by stem.

    With `task=None` every task folder is searched and keys are `<task>/<stem>`, because the same
    experiment (same stem) usually exists for several tasks.
    """
    results_dir = Path(results_dir)
    if task is not None:
        task_dirs = [results_dir / task]
    elif results_dir.is_dir():
        task_dirs = sorted(d for d in results_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    else:
        task_dirs = []
    found: dict[str, Path] = {}
    for task_dir in task_dirs:
        for path in sorted(task_dir.glob("*.json")):
            if path.name.startswith(".") or not path.is_file():  # temp files are hidden
                continue
            key = path.stem if task is not None else f"{task_dir.name}/{path.stem}"
            found[key] = path
    return found
