"""THE training loop: one for every method and every task (text and image), read top to bottom.

Only the training steps are timed (train_time); validation runs between windows, outside the clock.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Iterator

import torch

from peftbench.metrics import (ELAPSED, EVAL_TIME, SAMPLES_PER_SEC, TOKENS_PER_SEC, TRAIN_LOSS, TRAIN_SAMPLES,
                               WINDOW_TRAIN_TIME)
from peftbench.system.signals import check_stop
from peftbench.tasks.base import Batch
from peftbench.training.hooks import Hooks, Meters, TrainState


def mixed_precision(cfg, device: torch.device):
    """bf16 autocast for the forward when the config asks for it (`use_amp`) on CUDA; nothing otherwise."""
    if cfg.use_amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    model: torch.nn.Module,
    optimizer,
    scheduler,
    batches: Iterator[Batch],
    loss_fn: Callable[[torch.nn.Module, Batch], torch.Tensor],
    cfg,
    device: torch.device,
    state: TrainState,
    meters: Meters,
    hooks: Hooks,
) -> TrainState:
    """Train for cfg.max_steps, validating every cfg.eval_steps and after the last step.

    The task supplies the data (`batches`) and the loss (`loss_fn(model, batch)`); everything else —
    optimizer, clipping, schedule, timing, memory, validation windows — is the same for every task
    and method. `state` is filled in place so the caller still holds the metrics if this raises.
    `meters` (entered by the caller) are fed every step; `hooks` are called as `training/hooks.py` says."""
    # AdaLoRA and AdaMSS reallocate ranks as they train; every other method has no such hook.
    reallocate = getattr(getattr(model, "base_model", None), "update_and_allocate", None)
    window = {"loss": 0.0, "steps": 0, "samples": 0, "tokens": 0, "time": state.train_time.total}
    started = time.perf_counter()
    model.train()
    for step in range(state.step + 1, cfg.max_steps + 1):
        check_stop()  # a stop whose exception was swallowed (system/signals.py) ends the run here
        batch = next(batches)  # outside the clock: data preparation is not training
        with state.train_time:
            with mixed_precision(cfg, device):
                loss = loss_fn(model, batch)
            loss.backward()
            if cfg.grad_norm_clip:
                torch.nn.utils.clip_grad_norm_(
                    [p for p in model.parameters() if p.requires_grad], cfg.grad_norm_clip
                )
            optimizer.step()
            scheduler.step()
            if reallocate is not None:
                reallocate(step)
            if meters.accounted is not None:
                meters.accounted.step()  # before zero_grad: the gradients are part of the step's memory
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # so the clock measures the step, not its launch
        meters.memory.sample()
        state.last_loss = loss.item()
        if not math.isfinite(state.last_loss):
            raise FloatingPointError(f"training loss became {state.last_loss} at step {step}")
        state.step, state.samples, state.tokens = step, state.samples + batch.samples, state.tokens + batch.tokens
        window["loss"] += state.last_loss
        window["steps"] += 1
        window["samples"] += batch.samples
        window["tokens"] += batch.tokens
        hooks.on_step(state)
        if step % cfg.eval_steps == 0 or step == cfg.max_steps:
            state.metrics.append(_window_row(state, window, hooks.validate, started))
            hooks.on_window(state.metrics[-1])
            window = {"loss": 0.0, "steps": 0, "samples": 0, "tokens": 0, "time": state.train_time.total}
            model.train()
        if not hooks.keep_going(state):
            break
    return state


def _window_row(state: TrainState, window: dict, validate: Callable[[], dict], started: float) -> dict:
    train_seconds = state.train_time.total - window["time"]
    eval_start = time.perf_counter()
    valid = validate()
    return {
        "step": state.step,
        TRAIN_LOSS.key: window["loss"] / max(window["steps"], 1),
        TRAIN_SAMPLES.key: state.samples,
        WINDOW_TRAIN_TIME.key: train_seconds,
        EVAL_TIME.key: time.perf_counter() - eval_start,
        **_throughput(window, train_seconds),
        **valid,
        ELAPSED.key: time.perf_counter() - started,
    }


def _throughput(window: dict, seconds: float) -> dict:
    # Text tasks report tokens / sec (the reference's figure); image tasks have no tokens, so samples / sec.
    key, count = ((TOKENS_PER_SEC.key, window["tokens"]) if window["tokens"]
                  else (SAMPLES_PER_SEC.key, window["samples"]))
    return {key: count / seconds if seconds > 0 else None}
