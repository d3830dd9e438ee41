"""Values of the reference suite's result keys that peftbench's own record would otherwise lack.

The reference suite (huggingface/peft `method_comparison`) reads `run_info.peft_branch` for every
run and `test dino_similarity` for image runs; it also writes `<package>-commit-hash` entries. The
record build (`pipeline/record.py`) fills them in from here, so our records stay a superset of its
schema and its app loads our result folders as they are.
Values are what the reference would have recorded on the same installation: a branch or commit only
when the package runs from a git checkout, else null (a released wheel has neither).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

from peftbench.metrics import TEST_SIMILARITY

# Packages whose source commit the reference records in meta_info.package_info.
COMMIT_PACKAGES = ("transformers", "peft", "datasets", "bitsandbytes", "torch", "diffusers")
# Tasks whose `test similarity` is the reference's DINOv2 CLS cosine similarity (same encoder output:
# the CLS token after the final layer norm). minigen's similarity uses a small digit classifier
# instead, so it is deliberately not offered under the reference's DINO name.
DINO_SIMILARITY_TASKS = {"imagegen"}
DINO_KEY = "test dino_similarity"  # the reference's name of the same figure
GIT_TIMEOUT_S = 5


def _package_dir(name: str) -> Path | None:
    # find_spec locates a top-level package without importing it (bitsandbytes' import can take
    # seconds or fail without CUDA).
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _git(folder: Path, *args: str) -> str | None:
    # A wheel installed into site-packages may sit inside some other git checkout (a venv in a
    # project folder): only a package outside site-packages is its own source checkout.
    if "site-packages" in folder.parts or "dist-packages" in folder.parts:
        return None
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def peft_branch() -> str | None:
    """The git branch of the peft checkout in use (what the reference records), None for a release."""
    folder = _package_dir("peft")
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD") if folder else None
    return None if branch == "HEAD" else branch  # "HEAD" = detached, no branch


def commit_hashes() -> dict[str, str | None]:
    """`<package>-commit-hash` for each package the reference tracks; None unless a git checkout."""
    hashes = {}
    for name in COMMIT_PACKAGES:
        folder = _package_dir(name)
        hashes[f"{name}-commit-hash"] = _git(folder, "rev-parse", "HEAD") if folder else None
    return hashes


def final_aliases(task: str | None, final: dict) -> dict:
    """Final-row keys under the reference's names that `final` lacks: `test dino_similarity` for tasks
    whose `test similarity` is the reference's DINOv2 figure."""
    if task in DINO_SIMILARITY_TASKS and TEST_SIMILARITY.key in final and DINO_KEY not in final:
        return {DINO_KEY: final[TEST_SIMILARITY.key]}
    return {}
