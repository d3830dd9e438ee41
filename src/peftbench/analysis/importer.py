"""`peftbench import`: copy result files of the reference schema into a results store, tagged.

Imported files land in `<store>/<task>/<source>/<file>` — a subfolder, so `peftbench list` and a
sweep's "already done" check (which look at `<store>/<task>/*.json`) never mistake them for runs of
ours — with `run_info.source` and `run_info.task` set, which is all `load_runs` needs to label them.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from peftbench.analysis.load import Warn, default_warn, result_files, task_of
from peftbench.errors import UserError
from peftbench.records.names import NAME_RULE, check_name, is_name, is_within, join_under, probe_writable
from peftbench.records.record import ResultRecord, read_record_or_none
from peftbench.records.results import finite_or_none, atomic_write_json
from peftbench.records.status import SUCCESS

SIDECAR_SUFFIXES = (".predictions.jsonl", ".samples.png")


@dataclass
class ImportOutcome:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)  # already imported with the same content
    skipped: list[Path] = field(default_factory=list)  # not a result record, or not a successful run


def _check(source: str, task: str | None) -> None:
    if not is_name(source) or source == "peftbench":
        raise UserError(f"--source {source!r}: expected a folder-safe tag other than 'peftbench' ({NAME_RULE})")
    if task is not None:
        check_name(task, "--task")


def tagged(record: ResultRecord, path: Path, source: str, task: str | None) -> ResultRecord:
    """The record as it is stored after import: provenance in run_info, everything else untouched."""
    info = record.run_info.model_copy(update={"source": source, "task": task or task_of(record, path),
                                              "imported_from": str(path)})
    info.__pydantic_fields_set__.update({"source", "task"})  # written, like every key the file had
    return record.model_copy(update={"run_info": info})


def _copy_sidecars(source_json: Path, target_json: Path) -> None:
    for suffix in SIDECAR_SUFFIXES:
        sidecar = source_json.with_name(source_json.stem + suffix)
        if sidecar.is_file():
            shutil.copyfile(sidecar, target_json.with_name(target_json.stem + suffix))


def import_files(paths: list[Path], store: Path, source: str = "hf-method-comparison", task: str | None = None,
                 warn: Warn | None = None) -> ImportOutcome:
    """Import every result file under `paths` into `store`; UserError when a path does not exist or
    holds no result file at all."""
    warn = warn or default_warn
    _check(source, task)
    for path in paths:
        if not Path(path).exists():
            raise UserError(f"{path}: no such file or folder")
    files = result_files(paths)
    if not files:
        raise UserError(f"no result files (*.json) under {', '.join(map(str, paths))}")
    outcome, probed = ImportOutcome(), False
    for path in files:
        record = read_record_or_none(path, warn)
        if record is None:
            outcome.skipped.append(path)
            continue
        status = record.status
        if status != SUCCESS:
            warn(f"skipped {path}: status {status!r}, only successful runs are imported")
            outcome.skipped.append(path)
            continue
        if not _has_finite_test_metric(record, path, warn):
            outcome.skipped.append(path)
            continue
        record = tagged(record, path, source, task)
        if not probed:  # at the first file to import: an unwritable store is one line, a store of junk never made
            probe_writable(store, "--output-dir")
            probed = True
        target = _target(Path(store), record.run_info.task, source, path, warn)
        if target is None:
            outcome.skipped.append(path)
            continue
        if target.is_file() and _same(target, record):
            outcome.unchanged.append(target)
            continue
        try:
            _copy_sidecars(path, target)
            atomic_write_json(target, record.to_json())  # after the sidecars: a result file implies complete sidecars
        except OSError as err:
            raise UserError(f"{target}: cannot write ({err.strerror})") from None
        outcome.written.append(target)
    if not outcome.written and not outcome.unchanged:
        raise UserError(f"none of the {len(files)} files under {', '.join(map(str, paths))} is a successful result record")
    return outcome


def _has_finite_test_metric(record: ResultRecord, path: Path, warn: Warn) -> bool:
    """JSON has no NaN or infinity: a stored record keeps such a value as null (missing). Say so for
    each, and leave out a record whose every test metric is one: no report could show it."""
    final = record.final_metrics()
    bad = [key for key, value in final.items()
           if isinstance(value, float) and not math.isfinite(value)]
    tests = [key for key in final if str(key).startswith("test ")]
    if tests and all(key in bad for key in tests):
        warn(f"skipped {path}: every test metric is NaN or infinite ({', '.join(tests)}); nothing a report could show")
        return False
    if bad:
        warn(f"{path}: {', '.join(bad)} NaN or infinite: imported as missing")
    return True


def _target(store: Path, task: str, source: str, path: Path, warn: Warn) -> Path | None:
    """`<store>/<task>/<source>/<file>`, made sure to stay inside the store; None after a warning
    naming the file when its task cannot be a folder name (`../..`, `/abs`, `.`) or the place is taken."""
    try:
        target = join_under(store, task, source, path.name, what=f"{path}: task", last_is_file=True)
        if os.path.lexists(target.parent) and not target.parent.is_dir():
            raise UserError(f"{target.parent} exists and is not a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not is_within(target.parent, store):  # created through a symlink that appeared meanwhile
            raise UserError(f"{target.parent}: resolves outside {store}")
    except UserError as err:
        warn(f"skipped {path}: {err}" if str(path) not in str(err) else f"skipped {err}")
        return None
    except OSError as err:
        raise UserError(f"{store}: cannot create {target.parent} ({err.strerror})") from None
    return target


def _same(target: Path, record: ResultRecord) -> bool:
    """Whether `target` holds `record` as atomic_write_json stored it (NaN as null: one reference
    file has a NaN drift, and NaN != NaN would make every re-import rewrite it)."""
    stored = read_record_or_none(target)
    return stored is not None and finite_or_none(stored.to_json()) == finite_or_none(record.to_json())
