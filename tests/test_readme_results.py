"""The README's minimath table is what `peftbench report` makes of the committed records."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_regenerated_from_the_committed_records():
    check = subprocess.run([sys.executable, "scripts/readme_results.py", "--check"], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
    assert check.returncode == 0, check.stderr
