"""The sequence every run follows, text or image, any method: set up, train, test, compare with the
untuned model, measure, write the record. What differs per modality is its strategy (`text.TextRun`,
`image.ImageRun`); what differs per method is only the adapter config peft reads.

User mistakes found during set-up raise UserError before anything is written. Once a run has started,
any failure (Ctrl-C, SIGTERM, out of memory, NaN loss, a bug) still writes a record with the error and
the metrics so far, in the cancelled folder, never among the results.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

import torch

from peftbench.errors import UserError
from peftbench.metrics import task_metric
from peftbench.telemetry.measure import MemorySampler, count_parameters
from peftbench.telemetry.memory_accounting import AccountedMemory
from peftbench.pipeline.image import ImageRun
from peftbench.pipeline.modality import Modality
from peftbench.pipeline.record import build_record
from peftbench.pipeline.setup import BaseView, prepare_training, saved_size
from peftbench.pipeline.state import Row, RunState
from peftbench.pipeline.text import TextRun
from peftbench.planning.config import TrainConfig, trains_with_grpo
from peftbench.planning.plan import RunPlan
from peftbench.tasks.base import ImageTask, Task
from peftbench.telemetry.progress import Reporter
from peftbench.records.record import ResultRecord
from peftbench.records.status import CANCELLED, FAILED, SUCCESS, Status
from peftbench.records.results import result_path, samples_path, write_run
from peftbench.adapters.saved import adapter_dir, save_adapter
from peftbench.system.signals import check_stop, is_stop
from peftbench.system.threads import apply_thread_limit
from peftbench.telemetry.trackers import Trackers, summary_of
from peftbench.training.hooks import Hooks, Meters, TrainState
from peftbench.training.sft import train


@dataclass
class RunOutcome:
    status: str
    path: Path
    record: ResultRecord
    error: BaseException | None = None


def execute(plan: RunPlan, output_dir: Path | str, reporter: Reporter | None = None,
            trackers: Trackers | None = None) -> RunOutcome:
    """Run a planned experiment; always leaves a record (success, cancelled or failed) unless set-up
    finds a user mistake, which raises UserError with nothing written. `trackers` (`--report-to`)
    get every training window and, after the record is written, its figures."""
    reporter = reporter or Reporter(enabled=False)
    trackers = trackers or Trackers({})
    run = RunState(plan, plan.spec.create())
    trackers.start(f"{plan.task}/{plan.stem}", _tracked_config(plan))  # a tracker that cannot start: UserError
    status: Status
    error: BaseException | None
    try:
        with reporter:
            _run_all(run, reporter, trackers)
            check_stop()  # stopped where the exception was swallowed (system/signals.py): still not a success
        status, error = SUCCESS, None
    except UserError:
        raise
    except BaseException as err:  # KeyboardInterrupt and OOM included: the partial record still matters
        status, error = _failure(err)
    record = build_record(run, status, error)
    if status == SUCCESS and plan.save_adapter:
        # Before the JSON, like the sidecars: a result that exists has its adapter. The card needs the
        # finished record; if saving fails (disk full, Ctrl-C), the run is recorded as not successful.
        try:
            save_adapter(run.model, adapter_dir(result_path(output_dir, plan.task, plan.stem, SUCCESS)), record,
                         run.tokenizer)
        except BaseException as err:
            status, error = _failure(err)
            record = build_record(run, status, error)
    if status == SUCCESS and run.samples:
        # Before the JSON, like the predictions sidecar: a result that exists has its samples.
        from peftbench.image.grid import save_grid

        save_grid(run.samples, samples_path(result_path(output_dir, plan.task, plan.stem, status)),
                  title=f"{plan.experiment.full_name} on {plan.task} (seed {plan.seed})")
    path = write_run(record, run.predictions, output_dir, plan.task, plan.stem)
    trackers.finish(summary_of(record), success=status == SUCCESS)
    return RunOutcome(status, path, record, error)


def _failure(err: BaseException) -> tuple[Status, BaseException]:
    """"cancelled" = stopped from outside (Ctrl-C, SIGTERM): a sweep reruns it. "failed" = the run itself
    broke (OOM, NaN, a bug): a sweep leaves it alone unless asked to --retry-failed."""
    if not is_stop(err) and not isinstance(err, torch.OutOfMemoryError):
        traceback.print_exc()
    return (CANCELLED if is_stop(err) else FAILED), err


def _tracked_config(plan: RunPlan) -> dict[str, Any]:
    return {"task": plan.task, "experiment": plan.experiment.full_name, "seed": plan.seed,
            "config_hash": plan.config_hash, "train_config": plan.cfg.model_dump(mode="json"),
            "peft_config": plan.experiment.peft_config}


def _modality(run: RunState, reporter: Reporter, device: torch.device) -> Modality:
    """The run's modality. The registry pairs each task object with its kind (`TaskSpec.kind`) and a text
    task with a `TrainConfig`; the types cannot see that pairing, so it is asserted to them here."""
    if run.plan.spec.kind == "text":
        return TextRun(run, cast(Task, run.task), cast(TrainConfig, run.cfg), reporter, device)
    return ImageRun(run, cast(ImageTask, run.task), reporter, device)


def _run_all(run: RunState, reporter: Reporter, trackers: Trackers) -> None:
    from transformers import set_seed

    cfg = run.cfg
    apply_thread_limit(run.plan.spec.max_threads)
    set_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    modality = _modality(run, reporter, device)
    model = _untrained(run, modality) if cfg.skip_training else _trained(run, modality, reporter, device, trackers)
    if not cfg.evaluate_test:  # a tuning trial: its validation decided it, the test set stays unread
        return

    # Evaluation memory covers the test pass; the comparison with the base model is left out because for
    # full fine-tuning it holds a second (base) model, which says nothing about serving the tuned one.
    with MemorySampler(device) as eval_memory:
        modality.test(model)
    run.eval_memory = eval_memory.summary()
    load_base = (lambda: model) if cfg.skip_training else modality.load_base  # an untrained model is its base
    with BaseView(model, load_base, run.base_changed) as base:
        modality.compare_with_base(model, base)
        modality.afterwards(model, base)  # retention and inference overhead (text tasks)
    run.file_size = 0 if cfg.skip_training else saved_size(model)  # a baseline produces nothing to save


def _trained(run: RunState, modality: Modality, reporter: Reporter, device: torch.device,
             trackers: Trackers) -> torch.nn.Module:
    cfg = run.cfg
    model, optimizer, scheduler = prepare_training(run, modality.load())
    run.model = model
    memory, accounted = MemorySampler(device), AccountedMemory(model, optimizer)
    meters = Meters(memory, accounted)
    grpo = trains_with_grpo(cfg)
    batches = None if grpo else modality.batches()
    try:
        with reporter.training(cfg.max_steps) as on_step, memory, accounted:
            hooks = _hooks(run, modality, model, memory, on_step, trackers)
            if grpo:  # the same model, optimizer, meters and hooks; TRL's GRPO loop (training/grpo.py)
                _train_grpo(run, modality, model, optimizer, scheduler, meters, hooks)
            else:
                assert batches is not None  # made above for every trainer but GRPO
                train(model, optimizer, scheduler, batches, modality.loss, cfg, device, run.state, meters, hooks)
    finally:  # a cancelled run's record keeps the steps it took
        run.accounted_memory = accounted.summary()
    run.train_memory = memory.summary()
    del optimizer, scheduler, batches, accounted, meters  # free optimizer state: the evaluation peak is the model's own
    return model


def _hooks(run: RunState, modality: Modality, model: torch.nn.Module, memory: MemorySampler,
           on_step: Callable[[TrainState], None], trackers: Trackers) -> Hooks:
    """The training loop's callbacks (either loop's: `training/hooks.py`)."""
    early = run.cfg.early_stop

    def validate() -> dict[str, float]:
        with memory.paused():  # validation is not training: its memory stays out of training's figures
            return modality.validate(model)

    def on_window(row: Row) -> None:
        with memory.paused():  # nor is logging to a tracker
            trackers.log_row(row)

    def keep_going(state: TrainState) -> bool:
        if early is None or state.step != early.step:
            return True
        with memory.paused():  # the look is validation too
            score = modality.validate(model, early.items)[task_metric("valid", run.plan.spec.metric)]
        model.train()
        run.early_stop = {"step": early.step, "items": early.items, "score": score, "below": early.below,
                          "stopped": early.below is not None and not score >= early.below}  # NaN: stopped
        return not run.early_stop["stopped"]

    return Hooks(validate, on_step, on_window, keep_going)


def _train_grpo(run: RunState, modality: Modality, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, meters: Meters, hooks: Hooks) -> None:
    from peftbench.training.grpo import train_grpo
    from peftbench.text.data import format_prompt

    # trainer grpo is a text config's setting (TrainConfig), so its run is a TextRun: the tokenizer and scorer
    assert isinstance(modality, TextRun)
    train_grpo(model, modality.tokenizer, modality.task, modality.cfg, run.state, optimizer, scheduler, meters, hooks,
               format_prompt)


def _untrained(run: RunState, modality: Modality) -> torch.nn.Module:
    """A baseline row: the base model evaluated as it is, with one validation row at step 0."""
    model = modality.load()
    run.params = (0, count_parameters(model)[1])
    run.train_memory = {"max": 0, "avg": 0, "p99": 0}  # nothing trained, so nothing held above the start
    run.state.metrics.append({"step": 0, **modality.validate(model)})
    return model
