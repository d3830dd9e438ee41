"""Where the reference suite's published results are, for the tests that read them.

They are not part of the repository: the development set-up keeps them beside the checkout, in
`../shared/reference/hf-method-comparison`. A git worktree lives elsewhere, so its main checkout's
surroundings are tried too; `$PEFTBENCH_REFERENCE` names the folder explicitly. A fresh clone without
them skips those tests (`needs_reference`) rather than failing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RELATIVE = Path("shared") / "reference" / "hf-method-comparison"


def _main_checkout() -> Path | None:
    """The main checkout of this repository when ROOT is a git worktree (its common .git folder's parent)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    common = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    return common.parent if common is not None and common.name == ".git" else None


def find_reference() -> Path:
    """The reference results folder; a path that does not exist when none is found."""
    if os.environ.get("PEFTBENCH_REFERENCE"):
        return Path(os.environ["PEFTBENCH_REFERENCE"])
    candidates = [ROOT.parent / RELATIVE]
    main = _main_checkout()
    if main is not None and main != ROOT:
        candidates.append(main.parent / RELATIVE)
    return next((c for c in candidates if c.is_dir()), candidates[0])


REFERENCE = find_reference()
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason=f"reference results not found at {REFERENCE} (kept beside the checkout in ../{RELATIVE}; "
           "or set PEFTBENCH_REFERENCE)")
