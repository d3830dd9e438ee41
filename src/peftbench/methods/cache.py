"""Results of method checks, remembered per (check, configs, library versions)."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Callable

from peftbench.system.folders import cache_dir
from peftbench.records.results import atomic_write_json

# Bump when a check changes what it measures, so stale answers are not reused.
CHECKS_VERSION = "3"


def check_key(kind: str, payload: dict) -> str:
    """A stable key for one check of one experiment: its configs plus every library it exercises."""
    libs = {name: _version(name) for name in ("peft", "transformers", "torch", "diffusers")}
    blob = json.dumps([CHECKS_VERSION, kind, payload, libs], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _version(name: str) -> str | None:
    """A library's version, None when absent (diffusers is the [image] extra's: a text-only install
    checks text tasks all the same, and installing it later changes the key)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cached(kind: str, payload: dict, compute: Callable[[], dict], refresh: bool = False) -> dict:
    """`compute()`'s JSON-able answer, from the cache when this exact check already ran."""
    path = cache_dir() / "method-checks" / f"{kind}-{check_key(kind, payload)}.json"
    if path.exists() and not refresh:
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass  # a damaged entry is recomputed, never trusted
    answer = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, answer)
    return answer
