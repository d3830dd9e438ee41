"""Bring committed baseline records up to what peftbench writes today, so the reference suite's loader
(`method_comparison/processing.py`) reads them: a run that trained nothing (`skip_training: true`)
now records `train total tokens` 0 in its final row and a training-memory peak, mean and 99th percentile
of 0 bytes — facts of a run without training steps, not measurements. Only missing keys are added; each
record says so in `run_info.migrated`. Nothing else in any record changes.

    python scripts/migrate_records.py published/          # rewrite in place, print what changed
    python scripts/migrate_records.py published/ --check  # exit 1 when a record still needs it
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from peftbench.records.results import atomic_write_json

NOTE = "baseline: train total tokens and training memory 0 added (nothing trained), peftbench 2026-12-07"
MEMORY = ("accelerator_memory_max", "accelerator_memory_reserved_avg", "accelerator_memory_reserved_99th")


def migrate(record: dict) -> bool:
    """Add the missing keys of a successful baseline record in place; whether anything was added."""
    run, train = record.get("run_info") or {}, record.get("train_info") or {}
    if train.get("status") != "success" or not (run.get("train_config") or {}).get("skip_training"):
        return False
    final = train["metrics"][-1] if train.get("metrics") else None
    changed = False
    if isinstance(final, dict) and "train total tokens" not in final:
        final["train total tokens"] = 0
        changed = True
    for key in MEMORY:
        if train.get(key) is None:
            train[key] = 0
            changed = True
    if changed:
        run.setdefault("migrated", []).append(NOTE)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if any record needs it")
    args = parser.parse_args()
    pending = 0
    for folder in args.folders:
        for path in sorted(folder.rglob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(record, dict) or "run_info" not in record or not migrate(record):
                continue
            pending += 1
            if args.check:
                print(f"needs migration: {path}")
            else:
                atomic_write_json(path, record)  # as every record is written: indent 2, a final newline
                print(f"migrated {path}")
    if args.check and pending:
        sys.exit(1)


if __name__ == "__main__":
    main()
