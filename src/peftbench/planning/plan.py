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

from peftbench.planning.config import RunConfig, trains_with_grpo
from peftbench.errors import UserError
from peftbench.planning.experiment import ADAPTER_FILE, PARAMS_FILE, Experiment, config_hash, load_experiment
from peftbench.system.extras import require_extra
from peftbench.adapters.peft_config import validate_peft_config
from peftbench.tasks.registry import TaskSpec, task_spec


@dataclass(frozen=True)
class RunPlan:
    """One validated run: which experiment, on which task, with which config (seed included)."""

    experiment: Experiment
    spec: TaskSpec
    cfg: RunConfig
    overrides: dict  # command-line overrides (max_steps and seed included), deep-merged last
    config_hash: str
    # Keep the trained adapter beside the record (`--save-adapter`). Not in the config hash: it changes
    # what is kept, not what the run measures.
    save_adapter: bool = False

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
                "config_hash": self.config_hash, "task_file": str(self.spec.source) if self.spec.source else None,
                "save_adapter": self.save_adapter, "task": self.experiment.task}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunPlan:
        plan = plan_run(data["experiment_dir"], overrides=data["overrides"], task_file=data.get("task_file"),
                        save_adapter=data.get("save_adapter", False), task=data.get("task"))
        if plan.config_hash != data["config_hash"]:
            raise UserError(f"{data['experiment_dir']}: config changed since the sweep planned it "
                            f"(hash {data['config_hash']} -> {plan.config_hash}); run the sweep again")
        return plan


def plan_run(exp_dir: Path | str, max_steps: int | None = None, seed: int | None = None,
             overrides: dict | None = None, task_file: Path | str | None = None,
             save_adapter: bool = False, task: str | None = None) -> RunPlan:
    """Validate an experiment with its task's defaults and `overrides` (a nested dict deep-merged like
    training_params.json, e.g. from `--set`: the commands pass every option through it,
    `cli.common.run_overrides`); `max_steps` and `seed` are shorthands for two of them. `task_file`
    declares the experiment's task (`--task-file`; see `task_of`); `save_adapter` keeps the trained
    adapter beside the record; `task` is the task of a reference-layout experiment
    (`experiment.load_experiment`). Config values are merged as plain dicts and validated once
    (`Experiment.train_config`); a run shorter than eval_steps validates after its last step (the
    config model clamps eval_steps to max_steps)."""
    experiment = load_experiment(exp_dir, task)
    spec = task_of(experiment, task_file)
    if spec.kind == "image":  # diffusers and scikit-learn: one line naming the install, before any model loads
        require_extra("image")
    extra = dict(overrides or {})
    if max_steps is not None:
        extra["max_steps"] = max_steps
    if seed is not None:
        extra["seed"] = seed
    cfg = experiment.train_config(spec.defaults, extra, spec.config_model)
    if trains_with_grpo(cfg):  # TRL: one line naming the install, before any model loads
        require_extra("rl")
        check_grpo_method(experiment)
    digest = config_hash(experiment.task, cfg, experiment.peft_config, cfg.seed, spec.fingerprint)
    plan = RunPlan(experiment, spec, cfg, extra, digest, save_adapter)
    if experiment.peft_config is not None and cfg.skip_training:
        raise UserError(f"{experiment.path}: skip_training evaluates the base model as it is; it cannot "
                        f"also apply {ADAPTER_FILE} (remove one of the two)")
    if experiment.peft_config is not None:  # fail on a bad adapter config before loading any model
        validate_peft_config(experiment.peft_config, str(experiment.path / ADAPTER_FILE), plan.peft_task_type)
    check_sizes(plan)
    return plan


def check_grpo_method(experiment: Experiment) -> None:
    """Methods GRPO cannot train, refused before a model loads. TRL keeps the adapter's starting weights as
    a second, frozen adapter (the KL reference), and AdaLoRA allows one adapter per model (its rank
    allocation also needs a hook in the training loop that TRL's loop lacks)."""
    if str((experiment.peft_config or {}).get("peft_type", "")).upper() == "ADALORA":
        raise UserError(f"{experiment.path / ADAPTER_FILE}: AdaLoRA cannot train with GRPO (trainer 'grpo'): TRL "
                        "adds a frozen copy of the adapter as its KL reference, and AdaLoRA allows one adapter")


def task_of(experiment: Experiment, task_file: Path | str | None = None) -> TaskSpec:
    """The experiment's task: declared by `task_file`, or by `experiments/<task>/task.yaml` beside it, or
    else the registered task named by its folder. A task file must declare the folder's task name (the
    results go to results/<task>/ by that name)."""
    beside = experiment.task_file
    if task_file is not None and beside is not None and Path(task_file).resolve() != beside:
        raise UserError(f"{experiment.path}: task '{experiment.task}' is declared twice: by {task_file} "
                        f"(--task-file) and by {beside}; keep one")
    declared = task_file or beside
    if declared is None:
        return task_spec(experiment.task)
    from peftbench.tasks.from_file import register_task_file  # task files only: yaml and their data

    spec = register_task_file(declared)
    if spec.name != experiment.task:
        raise UserError(f"{experiment.path}: the experiment belongs to task '{experiment.task}' (its folder "
                        f"experiments/{experiment.task}/), but {declared} declares task '{spec.name}'; "
                        f"put it under experiments/{spec.name}/ or rename the task")
    return spec


def check_sizes(plan: RunPlan) -> None:
    """Sizes the config asks for against what the task can supply (`TaskSpec.sizes`): too many test
    items would fail after the model load, and a batch larger than the training data would be quietly
    smaller than the record says."""
    if plan.spec.sizes is None:
        return
    cfg = plan.cfg
    supplied = plan.spec.sizes(cfg)
    for key, count in supplied.items():
        asked = _value(cfg, key)
        if isinstance(asked, int) and asked > count:
            raise UserError(f"{_source_of(plan, key)}: {key} is {asked}, but task '{plan.task}' can supply "
                            f"at most {count}")
    train = supplied.get("data.train_size")
    if train is not None and cfg.batch_size > train:
        source = _source_of(plan, "batch_size")
        if source.startswith("task "):  # the default batch is fine; the training data was made small
            source = _source_of(plan, "data.train_size")
        raise UserError(f"{source}: batch_size is {cfg.batch_size}, more than the {train} "
                        f"training examples (data.train_size); expected at most {train}")


def _value(cfg, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part, None)
    return cfg


def _source_of(plan: RunPlan, key: str) -> str:
    """Where a key's value came from, for the error: the command line, training_params.json, or the
    task's defaults."""
    for source, values in (("command line", plan.overrides),
                           (str(plan.experiment.path / PARAMS_FILE), plan.experiment.overrides)):
        node = values
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return source
    return f"task '{plan.task}' defaults"
