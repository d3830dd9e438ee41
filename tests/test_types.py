"""The typed seam stays typed: `mypy --strict` (pyproject.toml, [tool.mypy]) on the run pipeline and the
metric registry, the code new modalities, trainers and metrics extend. Fails with mypy's report.

mypy keeps its cache outside the checkout, shared between runs: about 1 minute cold on a loaded 2-core
machine, a few seconds warm."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["src/peftbench/pipeline", "src/peftbench/metrics.py"]
CACHE = Path(tempfile.gettempdir()) / "peftbench-mypy-cache"


def test_config_names_the_targets():
    """`python -m mypy` alone checks the same files as this test."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == TARGETS and config["strict"] is True


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (it is in peftbench[test])")
def test_pipeline_and_metrics_pass_mypy_strict():
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(CACHE), *TARGETS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command[1:])}:\n{result.stdout}{result.stderr}"
