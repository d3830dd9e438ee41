"""`peftbench init`: a ready experiment tree for a task file, from a plain install.

    experiments/<task>/task.yaml                   the task file, its local paths rewritten to still point
                                                   at the same data (and `training.model_id` = --model)
    experiments/<task>/<method>/default/           each method's shipped default configuration (adapter
                                                   config, method-specific training parameters such as
                                                   its learning rate), copied from a shipped task
    experiments/<task>/base/zero-shot/             the untrained model, as a baseline row

After it, `peftbench sweep --task <task>` (or `tune`) runs them from the working directory, and
`peftbench report` compares them. Nothing is overwritten without `--force`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml

from peftbench.errors import UserError
from peftbench.planning.experiment import SHIPPED, discover
from peftbench.records.results import atomic_write_json
from peftbench.tasks.from_file.sources import is_url
from peftbench.tasks.from_file.spec import read_spec

BASELINE = ("base", "zero-shot")


def _rebased(value, source: Path, target: Path):
    """A path of the task file (a string, a list, or a dict of them) so that it still names the same
    file from `target`; URLs, Hub ids and absolute paths as they are."""
    if isinstance(value, dict):
        return {k: _rebased(v, source, target) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebased(v, source, target) for v in value]
    if not isinstance(value, str) or is_url(value) or Path(value).expanduser().is_absolute():
        return value
    where = (source / value).expanduser()
    if not where.exists():  # a Hub dataset id, or a mistake the task file's own checks will name
        return value
    return os.path.relpath(where.resolve(), target.resolve())


def task_file_text(raw: dict, source: Path, target: Path, model: str | None, origin: Path) -> str:
    """The task file as written into the tree: local paths rebased, the model set."""
    out = dict(raw)
    data = dict(out.get("data") or {})
    for key in ("files", "dataset"):
        if key in data:
            data[key] = _rebased(data[key], source, target)
    out["data"] = data
    if isinstance(out.get("forgetting"), dict):
        corpus = dict(out["forgetting"])
        for key in ("files", "dataset"):
            if key in corpus:
                corpus[key] = _rebased(corpus[key], source, target)
        out["forgetting"] = corpus
    if isinstance(out.get("scorer"), dict) and out["scorer"].get("module"):
        out["scorer"] = {**out["scorer"], "module": _rebased(out["scorer"]["module"], source, target)}
    if model:
        out["training"] = {**(out.get("training") or {}), "model_id": model}
    header = f"# Written by `peftbench init` from {origin}; local paths point at the same files.\n"
    return header + yaml.safe_dump(out, sort_keys=False, allow_unicode=True)


def _shipped(method: str, from_task: str) -> Path:
    found = {e.method: e.path for e in discover(SHIPPED, from_task) if e.name == "default"}
    if method not in found:
        known = ", ".join(sorted(m for m in found if m != "base"))
        raise UserError(f"--methods: no shipped default experiment for '{method}' on {from_task} (expected one of {known})")
    return found[method]


def scaffold(task_file: Path, methods: list[str], root: Path, model: str | None = None,
             from_task: str = "minimath", baseline: bool = True, force: bool = False) -> list[Path]:
    """Write the tree; the experiment folders written. UserError (nothing written) on a task file that
    does not validate, an unknown method, or a folder that exists (unless `force`)."""
    spec = read_spec(task_file)  # every mistake of the task file is named before anything is written
    raw = yaml.safe_load(task_file.read_text(encoding="utf-8"))
    name = spec.name or task_file.resolve().parent.name
    task_dir = root / name
    sources = {m: _shipped(m, from_task) for m in methods}
    if baseline:
        sources["/".join(BASELINE)] = SHIPPED / from_task / BASELINE[0] / BASELINE[1]
    targets = {m: task_dir / (m if "/" in m else f"{m}/default") for m in sources}
    taken = [p for p in [task_dir / "task.yaml", *targets.values()] if p.exists()]
    if taken and not force:
        raise UserError(f"{taken[0]} exists; give --force to replace what init writes (nothing else is touched)")
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "task.yaml").write_text(task_file_text(raw, task_file.parent, task_dir, model, task_file),
                                        encoding="utf-8")
    written = []
    for method, source in sources.items():
        target = targets[method]
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(source.glob("*.json")):
            if item.name == "training_params.json":  # the method's own choices (its lr); the task file has the rest
                atomic_write_json(target / item.name, json.loads(item.read_text()))
            else:
                shutil.copyfile(item, target / item.name)
        written.append(target)
    return written
