"""An experiment is a folder `experiments/<task>/<method>/<name>/` holding a PEFT config.

`adapter_config.json` is a standard PEFT config (absent = full fine-tuning); `training_params.json`
optionally overrides the task's training defaults. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from peftbench.config import TrainConfig, build_config, read_json
from peftbench.errors import UserError

ADAPTER_FILE = "adapter_config.json"
PARAMS_FILE = "training_params.json"
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

    def result_stem(self, seed: int) -> str:
        """`<method>--<name>[--seed<k>]`: seed 0 keeps the reference suite's file names."""
        stem = f"{self.method}--{self.name}"
        return stem if seed == 0 else f"{stem}--seed{seed}"

    def train_config(self, defaults: dict, extra: dict | None = None, schema: type = TrainConfig) -> TrainConfig:
        """Task defaults, deep-merged with training_params.json, then with command-line overrides,
        validated against `schema` (the task's config model)."""
        config = build_config(defaults, self.overrides, self.path / PARAMS_FILE, schema)
        if extra:
            config = build_config(config.model_dump(), extra, "command line", schema)
        return config


def load_experiment(path: Path | str) -> Experiment:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: experiment folder not found (expected experiments/<task>/<method>/<name>/)")
    parts = path.resolve().parts
    if len(parts) < 3:
        raise UserError(f"{path}: expected a folder experiments/<task>/<method>/<name>/")
    task, method, name = parts[-3:]
    adapter = path / ADAPTER_FILE
    params = path / PARAMS_FILE
    peft_config = read_json(adapter) if adapter.exists() else None
    if peft_config is not None and "peft_type" not in peft_config:
        raise UserError(f"{adapter}: missing key 'peft_type' (expected a PEFT config as saved by peft)")
    overrides = read_json(params) if params.exists() else {}
    trial, tuned = (read_json(path / f) if (path / f).exists() else None for f in (TRIAL_FILE, TUNED_FILE))
    return Experiment(path=path, task=task, method=method, name=name, peft_config=peft_config, overrides=overrides,
                      trial=trial, tuned=tuned)


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
            if exp_dir.is_dir() and ((exp_dir / ADAPTER_FILE).exists() or (exp_dir / PARAMS_FILE).exists()):
                found.append(load_experiment(exp_dir))
    return found


# Config keys added after results existed, with the value that means "as before": left out of the hash
# while they have it, so adding a key never makes a sweep rerun every finished experiment.
HASH_NEUTRAL = {"skip_training": False, "evaluate_test": True, "few_shot": 0}


def config_hash(task: str, train_config: TrainConfig, peft_config: dict | None, seed: int) -> str:
    """Stable hash of what decides a run's outcome; a sweep skips runs whose hash already has a result."""
    dumped = train_config.model_dump(mode="json")
    payload = {
        "task": task,
        "train_config": {k: v for k, v in dumped.items() if k not in HASH_NEUTRAL or v != HASH_NEUTRAL[k]},
        "peft_config": peft_config,
        "seed": seed,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
