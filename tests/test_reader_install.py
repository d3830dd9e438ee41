"""A reader-only install (`pip install peftbench`, no extras) has no torch and still reads results.

The virtualenv is built once per pyproject.toml and checkout (an editable install, so code changes
need no rebuild) under $PEFTBENCH_TEST_VENVS or ~/.cache/peftbench-test; building it downloads and
installs the reader's dependencies (pandas, scipy, matplotlib, plotly, ...), later runs reuse it.
These tests are marked `install` and left out of the default run: `pytest -m install` (or
`make test-install`) runs them, with the version-floor check below.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from reference_data import REFERENCE, needs_reference

pytestmark = pytest.mark.install
ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    # The checkout's src/ on PYTHONPATH would hide what the install itself provides.
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _venv_dir() -> Path:
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + str(ROOT).encode()).hexdigest()[:12]
    base = Path(os.environ.get("PEFTBENCH_TEST_VENVS") or Path.home() / ".cache" / "peftbench-test")
    return base / f"reader-{key}"


@pytest.fixture(scope="module")
def venv() -> Path:
    folder = _venv_dir()
    ready = folder / ".peftbench-ready"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):  # two test sessions never build the same venv at once
        if not ready.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
            subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(ROOT)],
                           check=True, env=_env(), timeout=1800)
            ready.write_text("ok\n")
    return folder / "bin"


def _run(venv: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / args[0]), *args[1:]], capture_output=True, text=True, env=_env(),
                          timeout=600, **kwargs)


def test_the_reader_install_has_no_training_stack(venv):
    code = ("import importlib.util as u; print(sorted(m for m in ('torch', 'transformers', 'peft', 'ray', "
            "'gradio', 'diffusers', 'sklearn', 'datasets') if u.find_spec(m)))")
    assert _run(venv, "python", "-c", code).stdout.strip() == "[]"
    done = _run(venv, "peftbench", "--version")
    assert done.returncode == 0 and done.stdout.startswith("peftbench ")


@needs_reference
def test_report_and_export_on_the_reference_files(venv, tmp_path):
    done = _run(venv, "peftbench", "report", "--results", str(REFERENCE), "--out", str(tmp_path / "report"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "report" / "report.html").stat().st_size > 0
    assert "lora" in (tmp_path / "report" / "summary.md").read_text()
    done = _run(venv, "peftbench", "export", "--format", "csv", "--results", str(REFERENCE), "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert len((tmp_path / "runs.csv").read_text().splitlines()) > 60


def test_a_missing_extra_is_one_line_naming_the_install(venv, tmp_path):
    done = _run(venv, "peftbench", "dashboard", "--results", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == ("error: the dashboard needs gradio, which is not installed: "
                                   "pip install 'peftbench[dashboard]'")
    done = _run(venv, "peftbench", "run", str(ROOT / "experiments" / "minimath" / "lora" / "default"),
                "--output-dir", str(tmp_path / "results"))
    assert done.returncode == 2 and done.stderr.strip().endswith("pip install 'peftbench[train]'"), done.stderr
    assert not (tmp_path / "results").exists()


def test_version_floors_are_true():
    # The lowest versions pyproject.toml allows, in a fresh venv, pass the reader tests (minutes).
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_floors.py")], capture_output=True,
                          text=True, env=_env(), timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
