"""Write docs/result-record.schema.json from the typed result record (peftbench.records.record).

Usage: python scripts/record_schema.py   (tests/test_record_schema.py fails when the file is stale)
"""

from __future__ import annotations

import json
from pathlib import Path

from peftbench.records.record import json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "result-record.schema.json"


def render() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(render())
    print(f"wrote {SCHEMA_FILE}")
