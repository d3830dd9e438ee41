"""Planning a run: an experiment folder plus overrides -> a validated `RunPlan`, before any model loads.

Everything that can be checked without a model is checked here (config keys, types and values, the
adapter config against peft), so a mistake costs a second, not a model load. Nothing here imports torch:
the sweep driver plans hundreds of runs with it. A `RunPlan` travels to worker processes as JSON
(`to_json` / `from_json`), and the worker re-plans from the same inputs and checks the config hash, so a
config edited between planning and running is noticed rather than silently run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peftbench.config import RunConfig
from peftbench.errors import UserError
from peftbench.experiment import ADAPTER_FILE, Experiment, config_hash, load_experiment
from peftbench.peft_config import validate_peft_config
from peftbench.tasks.registry import TaskSpec, task_spec


@dataclass(frozen=True)
class RunPlan:
    """One validated run: which experiment, on which task, with which config (seed included)."""

    experiment: Experiment
    spec: TaskSpec
    cfg: RunConfig
    overrides: dict  # command-line overrides (max_steps and seed included), deep-merged last
    config_hash: str

    @property
    def seed(self) -> int:
        return self.cfg.seed

    @property
    def task(self) -> str:
        return self.experiment.task

    @property
    def stem(self) -> str:
        """The result file's stem: `<method>--<name>[--seed<k>]`."""
        return self.experiment.result_stem(self.seed)

    @property
    def peft_task_type(self) -> str | None:
        """peft's task type when the adapter config names none: a causal LM for text, a plain model else."""
        return "CAUSAL_LM" if self.spec.kind == "text" else None

    def to_json(self) -> dict[str, Any]:
        """What a worker needs to plan the same run again (paths absolute: it may run elsewhere)."""
        return {"experiment_dir": str(Path(self.experiment.path).resolve()), "overrides": self.overrides,
                "config_hash": self.config_hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunPlan:
        plan = plan_run(data["experiment_dir"], overrides=data["overrides"])
        if plan.config_hash != data["config_hash"]:
            raise UserError(f"{data['experiment_dir']}: config changed since the sweep planned it "
                            f"(hash {data['config_hash']} -> {plan.config_hash}); run the sweep again")
        return plan


def plan_run(exp_dir: Path | str, max_steps: int | None = None, seed: int | None = None,
             overrides: dict | None = None) -> RunPlan:
    """Validate an experiment with its task's defaults and `overrides` (a nested dict deep-merged like
    training_params.json, e.g. from `--set`); `max_steps` and `seed` are shorthands for two of them."""
    experiment = load_experiment(exp_dir)
    spec = task_spec(experiment.task)
    extra = dict(overrides or {})
    if max_steps is not None:
        extra["max_steps"] = max_steps
    if seed is not None:
        extra["seed"] = seed
    cfg = experiment.train_config(spec.defaults, extra, spec.config_model)
    if cfg.max_steps < cfg.eval_steps:
        cfg = cfg.model_copy(update={"eval_steps": cfg.max_steps})  # a short run still validates once
    plan = RunPlan(experiment, spec, cfg, extra, config_hash(experiment.task, cfg, experiment.peft_config, cfg.seed))
    if experiment.peft_config is not None and cfg.skip_training:
        raise UserError(f"{experiment.path}: skip_training evaluates the base model as it is; it cannot "
                        f"also apply {ADAPTER_FILE} (remove one of the two)")
    if experiment.peft_config is not None:  # fail on a bad adapter config before loading any model
        validate_peft_config(experiment.peft_config, str(experiment.path / ADAPTER_FILE), plan.peft_task_type)
    return plan
