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

import torch

from peftbench.errors import UserError
from peftbench.measure import MemorySampler, count_parameters
from peftbench.pipeline.image import ImageRun
from peftbench.pipeline.record import build_record
from peftbench.pipeline.setup import BaseView, prepare_training, saved_size
from peftbench.pipeline.state import Run
from peftbench.pipeline.text import TextRun
from peftbench.plan import RunPlan
from peftbench.progress import Reporter
from peftbench.record import SUCCESS, ResultRecord
from peftbench.results import result_path, samples_path, write_run
from peftbench.signals import is_stop
from peftbench.threads import apply_thread_limit
from peftbench.train import train

STRATEGIES = {"text": TextRun, "image": ImageRun}


@dataclass
class RunOutcome:
    status: str
    path: Path
    record: ResultRecord
    error: BaseException | None = None


def execute(plan: RunPlan, output_dir: Path | str, reporter: Reporter | None = None) -> RunOutcome:
    """Run a planned experiment; always leaves a record (success, cancelled or failed) unless set-up
    finds a user mistake, which raises UserError with nothing written."""
    reporter = reporter or Reporter(enabled=False)
    run = Run(plan, plan.spec.create())
    try:
        with reporter:
            _run_all(run, reporter)
        status, error = SUCCESS, None
    except UserError:
        raise
    except BaseException as err:  # KeyboardInterrupt and OOM included: the partial record still matters
        # "cancelled" = stopped from outside (Ctrl-C, SIGTERM): a sweep reruns it. "failed" = the run
        # itself broke (OOM, NaN, a bug): a sweep leaves it alone unless asked to --retry-failed.
        status, error = ("cancelled" if is_stop(err) else "failed"), err
        if not is_stop(err) and not isinstance(err, torch.OutOfMemoryError):
            traceback.print_exc()
    record = build_record(run, status, error)
    if status == SUCCESS and run.samples:
        # Before the JSON, like the predictions sidecar: a result that exists has its samples.
        from peftbench.image.grid import save_grid

        save_grid(run.samples, samples_path(result_path(output_dir, plan.task, plan.stem, status)),
                  title=f"{plan.experiment.full_name} on {plan.task} (seed {plan.seed})")
    path = write_run(record, run.predictions, output_dir, plan.task, plan.stem)
    return RunOutcome(status, path, record, error)


def _run_all(run: Run, reporter: Reporter) -> None:
    from transformers import set_seed

    cfg = run.cfg
    apply_thread_limit(run.plan.spec.max_threads)
    set_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    modality = STRATEGIES[run.plan.spec.kind](run, reporter, device)
    model = _untrained(run, modality) if cfg.skip_training else _trained(run, modality, reporter, device)
    if not cfg.evaluate_test:  # a tuning trial: its validation decided it, the test set stays unread
        return

    # Evaluation memory covers the test pass; the comparison with the base model is left out because for
    # full fine-tuning it holds a second (base) model, which says nothing about serving the tuned one.
    with MemorySampler(device) as eval_memory:
        modality.test(model)
    run.eval_memory = eval_memory.summary()
    load_base = (lambda: model) if cfg.skip_training else modality.load_base  # an untrained model is its base
    with BaseView(model, load_base) as base:
        modality.compare_with_base(model, base)
    run.file_size = 0 if cfg.skip_training else saved_size(model)  # a baseline produces nothing to save


def _trained(run: Run, modality, reporter: Reporter, device):
    cfg = run.cfg
    model, optimizer, scheduler = prepare_training(run, modality.load())
    memory = MemorySampler(device)

    def validate() -> dict:
        with memory.paused():  # validation is not training: its memory stays out of training's figures
            return modality.validate(model)

    batches = modality.batches()
    with reporter.training(cfg.max_steps) as on_step, memory:
        train(model, optimizer, scheduler, batches, modality.loss, cfg, device, memory, run.state, validate, on_step)
    run.train_memory = memory.summary()
    del optimizer, scheduler, batches  # free optimizer state: the evaluation peak is the model's own
    return model


def _untrained(run: Run, modality):
    """A baseline row: the base model evaluated as it is, with one validation row at step 0."""
    model = modality.load()
    run.params = (0, count_parameters(model)[1])
    run.state.metrics.append({"step": 0, **modality.validate(model)})
    return model
