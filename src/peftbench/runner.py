"""Run one experiment end to end: set up, train, evaluate, measure, write the result record.

One runner for every task: text tasks take `_run_text` below, image tasks (`kind = "image"`)
`peftbench.image.phase.run_image`; both use the same training loop, measurements and record.

User mistakes found during set-up raise UserError before anything is written. Once a run has
started, any failure (Ctrl-C, out of memory, NaN loss, a bug) still writes a `cancelled` record with
the error and the metrics so far, in the cancelled folder, never among the results.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from peftbench import __version__, environment
from peftbench.adapters import build_optimizer, build_scheduler, validate_peft_config, wrap_model
from peftbench.baseline import base_cross_entropy
from peftbench.data import encode_all, format_prompt
from peftbench.errors import UserError
from peftbench.evaluate import cross_entropy_and_drift, encode_corpus, generate_answers, score_answers
from peftbench.config import TrainConfig
from peftbench.experiment import ADAPTER_FILE, Experiment, config_hash, load_experiment
from peftbench.extract import EXTRACTOR_VERSION
from peftbench.measure import MemorySampler, count_parameters, dir_size
from peftbench.models import load_model
from peftbench.progress import Reporter
from peftbench.results import result_path, samples_path, write_run
from peftbench.tasks import get_task
from peftbench.tasks.base import task_kind
from peftbench.train import TrainState, causal_lm_loss, text_batches, train


class Terminated(BaseException):
    """SIGTERM (a scheduler's preemption, `kill`): handled like Ctrl-C, so the run leaves a record."""


@dataclass
class RunOutcome:
    status: str
    path: Path
    record: dict
    error: BaseException | None = None


@dataclass
class Run:
    """Everything a run accumulates; a cancelled record is built from whatever is filled in."""

    experiment: Experiment
    task: object
    cfg: object
    seed: int
    config_hash: str
    started: float = field(default_factory=time.perf_counter)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    state: TrainState = field(default_factory=TrainState)
    train_memory: dict = field(default_factory=dict)
    eval_memory: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    predictions: list[dict] = field(default_factory=list)
    params: tuple[int, int] = (0, 0)
    file_size: int | None = None
    peft_config: dict | None = None
    model_info: dict = field(default_factory=dict)
    corpus_info: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)  # image tasks: (label, images) rows of the sample grid


def plan_run(
    exp_dir: Path | str, max_steps: int | None = None, seed: int | None = None, overrides: dict | None = None
) -> Run:
    """Validate everything that can be validated without loading a model. `overrides` (nested dict,
    deep-merged like training_params.json) come from the command line and win over everything."""
    experiment = load_experiment(exp_dir)
    task = get_task(experiment.task)
    extra = dict(overrides or {})
    if max_steps is not None:
        extra["max_steps"] = max_steps
    if seed is not None:
        extra["seed"] = seed
    cfg = experiment.train_config(task.default_params(), extra, getattr(task, "config_model", TrainConfig))
    if cfg.max_steps < cfg.eval_steps:
        cfg = cfg.model_copy(update={"eval_steps": cfg.max_steps})  # a short run still validates once
    if experiment.peft_config is not None:  # fail on a bad adapter config before loading any model
        default_type = "CAUSAL_LM" if task_kind(task) == "text" else None
        validate_peft_config(experiment.peft_config, str(experiment.path / ADAPTER_FILE), default_type)
    digest = config_hash(experiment.task, cfg, experiment.peft_config, cfg.seed)
    return Run(experiment=experiment, task=task, cfg=cfg, seed=cfg.seed, config_hash=digest)


def execute(run: Run, output_dir: Path, reporter: Reporter | None = None) -> RunOutcome:
    """Run a planned experiment; always leaves a record (success or cancelled) unless set-up finds a
    user mistake, which raises UserError with nothing written."""
    reporter = reporter or Reporter(enabled=False)
    try:
        with reporter:
            _run_all(run, reporter)
        status, error = "success", None
    except UserError:
        raise
    except BaseException as err:  # KeyboardInterrupt and OOM included: the partial record still matters
        # "cancelled" = stopped from outside (Ctrl-C, SIGTERM): a sweep reruns it. "failed" = the run
        # itself broke (OOM, NaN, a bug): a sweep leaves it alone unless asked to --retry-failed.
        status, error = ("cancelled" if isinstance(err, (KeyboardInterrupt, Terminated)) else "failed"), err
        if not isinstance(err, (KeyboardInterrupt, Terminated, torch.OutOfMemoryError)):
            traceback.print_exc()
    record = build_record(run, status, error)
    task, stem = run.experiment.task, run.experiment.result_stem(run.seed)
    if status == "success" and run.samples:
        # Before the JSON, like the predictions sidecar: a result that exists has its samples.
        from peftbench.image.grid import save_grid

        save_grid(run.samples, samples_path(result_path(output_dir, task, stem, status)),
                  title=f"{run.experiment.full_name} on {task} (seed {run.seed})")
    path = write_run(record, run.predictions, output_dir, task, stem)
    return RunOutcome(status, path, record, error)


def _run_all(run: Run, reporter: Reporter) -> None:
    from transformers import set_seed

    set_seed(run.cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if task_kind(run.task) == "image":
        from peftbench.image.phase import run_image

        run_image(run, reporter, device)
    else:
        _run_text(run, reporter, device)


def _run_text(run: Run, reporter: Reporter, device: torch.device) -> None:
    cfg, task = run.cfg, run.task
    model, tokenizer, run.model_info = load_model(cfg, device)
    train_data = encode_all(tokenizer, cfg.query_template, task.train_examples(cfg), cfg.max_seq_length, cfg.loss_on)
    valid = task.valid_examples(cfg)
    test_sets = task.test_sets(cfg)
    texts, run.corpus_info = task.forgetting_texts(cfg)
    corpus = encode_corpus(tokenizer, texts, cfg.data.forgetting_max_tokens)
    corpus_batch = min(cfg.batch_size_eval, 8)  # full-vocabulary log-probs are large; keep batches small
    base_ce = base_cross_entropy(model, corpus, tokenizer.pad_token_id, corpus_batch, run.model_info, run.corpus_info, cfg)

    source = str(run.experiment.path / ADAPTER_FILE)
    model = wrap_model(model, run.experiment.peft_config, source, cfg.autocast_adapter_dtype)
    run.peft_config = _peft_config_dict(model, run.experiment.peft_config)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    run.params = count_parameters(model)  # after the optimizer: LoRA-FA freezes the A matrices
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    if cfg.compile:
        model.compile()

    def accuracy_on(examples, label):
        with reporter.task(label, len(examples), keep=not label.startswith("valid")) as advance:
            answers = generate_answers(model, tokenizer, cfg, examples, progress=advance)
        return score_answers(examples, answers, task.score, lambda q: format_prompt(cfg.query_template, q))

    memory = MemorySampler(device)

    def validate() -> dict:
        with memory.paused():
            accuracy, _ = accuracy_on(valid, "valid")
        return {f"valid {task.metric}": accuracy}

    with reporter.training(cfg.max_steps) as on_step, memory:
        batches = text_batches(train_data, cfg.batch_size, cfg.seed, tokenizer.pad_token_id, device)
        train(model, optimizer, scheduler, batches, causal_lm_loss, cfg, device, memory, run.state, validate, on_step)
    run.train_memory = memory.summary()
    del optimizer, scheduler  # free optimizer state before evaluation, so the eval peak is the model's own

    # Evaluation memory covers test generation; the forgetting pass below is left out because for
    # full fine-tuning it holds a second (base) model, which says nothing about serving the tuned one.
    with MemorySampler(device) as eval_memory:
        for test in test_sets:
            metric = f"test {task.metric}" + (f" {test.name}" if test.name else "")
            accuracy, rows = accuracy_on(test.examples, metric)
            run.final[metric] = accuracy
            run.predictions += [{**row, "test_set": test.name or task.name} for row in rows]
    run.eval_memory = eval_memory.summary()
    with reporter.status("forgetting and drift"):
        tuned_ce, drift = _forgetting_pass(model, cfg, corpus, tokenizer.pad_token_id, corpus_batch, device)
    run.final.update({"forgetting": tuned_ce - base_ce, "drift": drift, "base cross entropy": base_ce, "tuned cross entropy": tuned_ce})
    run.file_size = _saved_size(model)


def _forgetting_pass(model, cfg, corpus, pad_id, batch, device) -> tuple[float, float]:
    if hasattr(model, "disable_adapter"):
        return cross_entropy_and_drift(model, model.disable_adapter, model, corpus, pad_id, batch)
    # Full fine-tuning changed the weights themselves: compare against a freshly loaded base model.
    base, _, _ = load_model(cfg, device)
    try:
        return cross_entropy_and_drift(model, contextlib.nullcontext, base, corpus, pad_id, batch)
    finally:
        del base


def _saved_size(model) -> int:
    with tempfile.TemporaryDirectory(prefix="peftbench-size-") as tmp:
        model.save_pretrained(tmp)
        return dir_size(tmp)


def _peft_config_dict(model, raw: dict | None) -> dict | None:
    if raw is None:
        return None
    config = model.peft_config["default"].to_dict()
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()}


def build_record(run: Run, status: str, error: BaseException | None) -> dict:
    total = time.perf_counter() - run.started
    is_text = task_kind(run.task) == "text"
    final_row = {"step": run.state.step, **run.final, "train loss": run.state.last_loss,
                 "train samples": run.state.samples, **({"train total tokens": run.state.tokens} if is_text else {})}
    mem, emem = run.train_memory, run.eval_memory
    return {
        "run_info": {
            "created_at": run.created_at,
            "total_time": total,
            "experiment_name": run.experiment.full_name,
            "task": run.experiment.task,
            "train_config": run.cfg.model_dump(mode="json"),
            "peft_config": run.peft_config if run.peft_config is not None else run.experiment.peft_config,
            "seed": run.seed,
            "config_hash": run.config_hash,
            "peftbench_version": __version__,
            **({"extractor_version": EXTRACTOR_VERSION} if is_text else {}),
            "git": environment.git_info(),
            "error_msg": "" if error is None else _describe(error),
        },
        "train_info": {
            "status": status,
            "train_time": run.state.train_time.total,
            "total_time": total,
            "accelerator_memory_max": mem.get("max"),
            "accelerator_memory_reserved_avg": mem.get("avg"),
            "accelerator_memory_reserved_99th": mem.get("p99"),
            "memory_kind": mem.get("kind") or emem.get("kind"),
            "eval_memory_max": emem.get("max"),
            "file_size": run.file_size,
            "num_trainable_params": run.params[0],
            "num_total_params": run.params[1],
            "metrics": run.state.metrics + ([final_row] if status == "success" else []),
        },
        "meta_info": {
            "model_info": run.model_info,
            "dataset_info": {**run.task.dataset_info(run.cfg), **({"forgetting": run.corpus_info} if is_text else {})},
            "package_info": environment.package_info(),
            "system_info": environment.system_info(),
            "pytorch_info": environment.pytorch_info(),
        },
    }


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by the user (Ctrl-C)"
    if isinstance(error, Terminated):
        return "terminated by SIGTERM"
    if isinstance(error, torch.OutOfMemoryError):
        return f"out of memory: {str(error).splitlines()[0]}"
    return f"{type(error).__name__}: {error}"
