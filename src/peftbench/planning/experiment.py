"""An experiment is a folder `experiments/<task>/<method>/<name>/` holding a PEFT config.

`adapter_config.json` is a standard PEFT config (absent = full fine-tuning); `training_params.json`
optionally overrides the task's training defaults; `experiments/<task>/task.yaml`, when present,
declares the task itself (docs/tasks-from-files.md). Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from peftbench.planning.config import TrainConfig, read_json, validate_config
from peftbench.errors import UserError
from peftbench.records.names import check_name

ADAPTER_FILE = "adapter_config.json"
PARAMS_FILE = "training_params.json"
TASK_FILE = "task.yaml"
# Written by `peftbench tune`: a trial's identity (a trial folder), the search behind a tuned experiment.
TRIAL_FILE = "tune_trial.json"
TUNED_FILE = "tune.json"
FULL_FINETUNING = "full-finetuning"


@dataclass(frozen=True)
class Experiment:
    path: Path
    task: str
    method: str
    name: str
    peft_config: dict | None = None  # raw adapter_config.json; None = full fine-tuning
    overrides: dict = field(default_factory=dict)
    trial: dict | None = None  # tune_trial.json: the run is a tuning trial (record: run_info.trial)
    tuned: dict | None = None  # tune.json: the configuration came from a search (record: run_info.tuned)

    @property
    def full_name(self) -> str:
        return f"{self.method}/{self.name}"

    @property
    def is_baseline(self) -> bool:
        """A baseline row (`experiments/<task>/base/`): the base model evaluated as it is, nothing trained."""
        return bool(self.overrides.get("skip_training"))

    def result_stem(self, seed: int) -> str:
        """`<method>--<name>[--seed<k>]`: seed 0 keeps the reference suite's file names."""
        stem = f"{self.method}--{self.name}"
        return stem if seed == 0 else f"{stem}--seed{seed}"

    @property
    def task_file(self) -> Path | None:
        """`experiments/<task>/task.yaml` when the task is declared there, beside its experiments."""
        path = self.path.resolve().parents[1] / TASK_FILE
        return path if path.is_file() else None

    def train_config(self, defaults: dict, extra: dict | None = None, schema: type = TrainConfig) -> TrainConfig:
        """Task defaults, deep-merged with training_params.json, then with command-line overrides `extra`,
        validated once against `schema` (the task's config model)."""
        layers = [(self.path / PARAMS_FILE, self.overrides)] + ([("command line", extra)] if extra else [])
        return validate_config(defaults, layers, schema)


# The reference suite's layout: <suite>/experiments/<method>/<name>/, its defaults one level above the
# experiments (<suite>/default_training_params.json), the suite's folder naming the task.
REFERENCE_DEFAULTS = "default_training_params.json"
REFERENCE_SUITES = {"MetaMathQA": "metamathqa", "image-gen": "imagegen"}
# Keys of the reference's training parameters that peftbench has no use for, with the value that means
# "not used": dropped at that value, refused (one line) at any other.
REFERENCE_UNUSED = {"init_kv_cache_prefix": None}


def reference_suite(path: Path | str) -> Path | None:
    """The reference suite's folder when `path` is one of its experiments (<suite>/experiments/<m>/<n>)."""
    resolved = Path(path).resolve()
    if len(resolved.parts) >= 4 and resolved.parts[-3] == "experiments" \
            and (resolved.parents[2] / REFERENCE_DEFAULTS).is_file():
        return resolved.parents[2]
    return None


def _reference_overrides(path: Path, suite: Path, own_task: bool) -> dict:
    """The experiment's training parameters as the reference suite reads them: on its own task, its
    default_training_params.json with the experiment's training_params.json over it (a shallow update,
    as the suite merges); on another task (`--task minimath`), the experiment's own file alone, on that
    task's defaults. Keys peftbench has no use for are dropped at their unused value, else refused."""
    params = path / PARAMS_FILE
    own = read_json(params) if os.path.lexists(params) else {}
    merged = {**read_json(suite / REFERENCE_DEFAULTS), **own} if own_task else dict(own)
    for key, unused in REFERENCE_UNUSED.items():
        if key in merged and merged[key] != unused:
            raise UserError(f"{params if key in own else suite / REFERENCE_DEFAULTS}: '{key}' is the reference suite's "
                            f"and not supported here (expected {json.dumps(unused)})")
        merged.pop(key, None)
    return merged


def load_experiment(path: Path | str, task: str | None = None) -> Experiment:
    """The experiment in `path`: experiments/<task>/<method>/<name>/, or the reference suite's
    <suite>/experiments/<method>/<name>/ (task: `task`, else the one the suite's folder names)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: experiment folder not found (expected experiments/<task>/<method>/<name>/)")
    parts = path.resolve().parts
    if len(parts) < 3:
        raise UserError(f"{path}: expected a folder experiments/<task>/<method>/<name>/")
    suite = reference_suite(path)
    if suite is not None:
        method, name = parts[-2:]
        own = REFERENCE_SUITES.get(suite.name)
        task = task or own
        if task is None:
            raise UserError(f"{path}: an experiment of the reference suite's layout under {suite}: give --task "
                            f"(the folder '{suite.name}' names no task peftbench knows)")
    else:
        folder_task, method, name = parts[-3:]
        if task is not None and task != folder_task:
            raise UserError(f"{path}: belongs to task '{folder_task}' (its folder), not '{task}'")
        task = folder_task
    # They name the result file and its folders (`<results>/<task>/<method>--<name>.json`, the sweep's
    # locks and logs): only plain names, so no folder name can point a write elsewhere.
    for what, value in (("task", task), ("method", method), ("experiment name", name)):
        check_name(value, f"{path}: {what}")
    adapter = path / ADAPTER_FILE
    params = path / PARAMS_FILE
    # lexists, not exists: a dangling or looping symlink is a broken config (read_json says so), never
    # an absent one, which would silently mean full fine-tuning.
    peft_config = read_json(adapter) if os.path.lexists(adapter) else None
    if peft_config is not None and "peft_type" not in peft_config:
        raise UserError(f"{adapter}: missing key 'peft_type' (expected a PEFT config as saved by peft)")
    if suite is not None:
        overrides = _reference_overrides(path, suite, task == REFERENCE_SUITES.get(suite.name))
    else:
        overrides = read_json(params) if os.path.lexists(params) else {}
    trial, tuned = (read_json(path / f) if os.path.lexists(path / f) else None for f in (TRIAL_FILE, TUNED_FILE))
    return Experiment(path=path, task=task, method=method, name=name, peft_config=peft_config, overrides=overrides,
                      trial=trial, tuned=tuned)


def is_experiment_dir(folder: Path) -> bool:
    """Whether `folder` holds an experiment's files (a broken symlink counts: loading it reports it)."""
    return os.path.lexists(folder / ADAPTER_FILE) or os.path.lexists(folder / PARAMS_FILE)


def discover(root: Path | str, task: str | None = None) -> list[Experiment]:
    """Every experiment folder three levels below `root` (optionally of one task), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: experiments folder not found")
    task_dirs = [root / task] if task else sorted(p for p in root.iterdir() if p.is_dir())
    found = []
    for task_dir in task_dirs:
        if not task_dir.is_dir():
            raise UserError(f"{task_dir}: no experiments for task '{task}'")
        for exp_dir in sorted(task_dir.glob("*/*")):
            if exp_dir.is_dir() and is_experiment_dir(exp_dir):
                found.append(load_experiment(exp_dir))
    return found


SHIPPED = Path(__file__).resolve().parents[1] / "experiments"  # package data: the experiments peftbench ships
LOCAL = Path("experiments")


def experiments_root(given: Path | None = None) -> Path:
    """Where experiment folders live: `given`, else ./experiments when it exists (a checkout, or a tree
    `peftbench init` wrote), else the experiments shipped inside the package (a plain install)."""
    if given is not None:
        return Path(given)
    return LOCAL if LOCAL.is_dir() else SHIPPED


# Config keys added after results existed, with the value that means "as before": left out of the hash
# while they have it, so adding a key never makes a sweep rerun every finished experiment.
HASH_NEUTRAL = {"skip_training": False, "evaluate_test": True, "few_shot": 0, "trainer": "sft",
                "grpo": {"num_generations": 4, "max_new_tokens": 64, "temperature": 1.0, "beta": 0.04,
                         "loss_type": "grpo", "format_reward": 0.0, "answer_phrase": "The answer is",
                         "init_adapter": None},
                "early_stop": None, "sampled": None}
# Measurements after the test pass that change no training and no test result: never in the hash.
HASH_EXCLUDED = {"retention", "overhead"}


def config_hash(task: str, train_config: TrainConfig, peft_config: dict | None, seed: int,
                task_fingerprint: str | None = None) -> str:
    """Stable hash of what decides a run's outcome; a sweep skips runs whose hash already has a result.
    `task_fingerprint` identifies a task declared by a file (the file and its data); built-in tasks have
    none, and their hashes stay what they were."""
    dumped = train_config.model_dump(mode="json")
    payload = {
        "task": task,
        "train_config": {k: v for k, v in dumped.items()
                         if k not in HASH_EXCLUDED and (k not in HASH_NEUTRAL or v != HASH_NEUTRAL[k])},
        "peft_config": peft_config,
        "seed": seed,
    }
    if task_fingerprint is not None:
        payload["task_fingerprint"] = task_fingerprint
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
