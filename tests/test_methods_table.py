"""experiments/README.md's method tables are what scripts/methods_table.py generates."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_method_tables_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "methods_table.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
