"""Results in other tools' formats: lm-evaluation-harness results JSON, Hub `.eval_results` YAML, CSV.

Reader side (no torch): `export(sources, fmt, out)` reads result folders as the report does and
writes into `out`; nothing is written when the input is wrong (the error names it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from peftbench.analysis.load import Warn, default_warn
from peftbench.errors import UserError
from peftbench.records.names import probe_writable
from peftbench.export import csv_table, eval_results, lm_eval_json
from peftbench.export.runs import read_runs, sidecar_rows
from peftbench.records.results import atomic_write_text

FORMATS = ("lm-eval", "eval-results", "csv")


@dataclass
class Exported:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<result file>: why"
    passed_over: int = 0  # failed or cancelled runs (not exported)


def _lm_eval(sources, out: Path, warn: Warn, **_) -> Exported:
    runs, passed_over = read_runs(sources, warn)
    done = Exported(passed_over=passed_over)
    files = {}
    for run in runs:
        why = lm_eval_json.unsupported(run)
        if why:
            done.skipped.append(f"{run.path}: {why}")
        else:
            files[out / lm_eval_json.relative_path(run)] = json.dumps(lm_eval_json.lm_eval_results(run), indent=2) + "\n"
            for path, lines in lm_eval_json.samples(run, sidecar_rows(run.path)).items():
                files[out / path] = "".join(json.dumps(line) + "\n" for line in lines)
    return _write(files, done)


def _eval_results(sources, out: Path, warn: Warn, benchmarks: dict, **_) -> Exported:
    runs, passed_over = read_runs(sources, warn)
    if not benchmarks:
        found = sorted({s.test_set for run in runs for s in run.scores})
        raise UserError("--format eval-results needs --benchmark TEST_SET=OWNER/DATASET[:TASK_ID] naming the Hub "
                        f"benchmark of each test set to publish (test sets found: {', '.join(found) or 'none'})")
    done = Exported(passed_over=passed_over)
    files = {}
    for run in runs:
        mapped = eval_results.files_of(run, benchmarks)
        unmapped = sorted({s.test_set for s in run.scores} - set(benchmarks))
        if unmapped:
            done.skipped.append(f"{run.path}: test set {', '.join(unmapped)} has no --benchmark")
        for rel, entries in mapped.items():
            files[out / rel] = yaml.safe_dump(entries, sort_keys=False, allow_unicode=True)
    return _write(files, done)


def _csv(sources, out: Path, warn: Warn, **_) -> Exported:
    table = csv_table.runs_table(sources, warn)
    return _write({out / csv_table.FILE_NAME: csv_table.csv_text(table)} if len(table) else {}, Exported())


def _write(files: dict[Path, str], done: Exported) -> Exported:
    # Everything is serialised before the first write, so a bad record fails with nothing written.
    for path, text in files.items():
        atomic_write_text(path, text)
        done.written.append(path)
    return done


WRITERS: dict[str, Callable[..., Exported]] = {"lm-eval": _lm_eval, "eval-results": _eval_results, "csv": _csv}


def export(sources: Iterable[Path | str], fmt: str, out: Path | str, warn: Warn | None = None,
           benchmarks: list[str] | None = None) -> Exported:
    """Write the results under `sources` (folders searched recursively, or files) in format `fmt`."""
    sources = [Path(s) for s in sources]
    if fmt not in WRITERS:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    missing = [s for s in sources if not s.exists()]
    if missing:
        raise UserError(f"--results {missing[0]}: no such file or folder")
    mapped = eval_results.parse_benchmarks(benchmarks or [])
    if mapped and fmt != "eval-results":
        raise UserError("--benchmark applies to --format eval-results only")
    probe_writable(out, "--out")  # a file there, or no permission: one line before anything is written
    return WRITERS[fmt](sources, Path(out), warn or default_warn, benchmarks=mapped)
