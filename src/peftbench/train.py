"""THE training loop: one for every method, read top to bottom.

Only the training steps are timed (train_time); validation runs between windows, outside the clock.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from peftbench.data import Encoded, collate, endless_batches
from peftbench.measure import MemorySampler, Stopwatch


@dataclass
class TrainState:
    """What training has produced so far; a cancelled run reports exactly this."""

    step: int = 0
    samples: int = 0
    tokens: int = 0
    train_time: Stopwatch = field(default_factory=Stopwatch)
    metrics: list[dict] = field(default_factory=list)
    last_loss: float = float("nan")


def _autocast(cfg, device: torch.device):
    if cfg.use_amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    model,
    optimizer,
    scheduler,
    data: list[Encoded],
    cfg,
    device: torch.device,
    pad_id: int,
    memory: MemorySampler,
    state: TrainState,
    validate: Callable[[], dict],
    on_step: Callable[[TrainState], None] = lambda s: None,
) -> TrainState:
    """Train for cfg.max_steps, validating every cfg.eval_steps and after the last step.

    `state` is filled in place so the caller still holds the metrics if this raises (Ctrl-C, OOM)."""
    lengths = [len(ex.input_ids) for ex in data]
    batches = endless_batches(lengths, cfg.batch_size, cfg.seed)
    # AdaLoRA and AdaMSS reallocate ranks as they train; every other method has no such hook.
    reallocate = getattr(getattr(model, "base_model", None), "update_and_allocate", None)
    window = {"loss": 0.0, "steps": 0, "tokens": 0, "time": state.train_time.total}
    started = time.perf_counter()
    model.train()
    for step in range(state.step + 1, cfg.max_steps + 1):
        items = [data[i] for i in next(batches)]
        batch = {k: v.to(device) for k, v in collate(items, pad_id).items()}
        with state.train_time:
            with _autocast(cfg, device):
                loss = model(**batch).loss
            loss.backward()
            if cfg.grad_norm_clip:
                torch.nn.utils.clip_grad_norm_(
                    [p for p in model.parameters() if p.requires_grad], cfg.grad_norm_clip
                )
            optimizer.step()
            scheduler.step()
            if reallocate is not None:
                reallocate(step)
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # so the clock measures the step, not its launch
        memory.sample()
        state.last_loss = loss.item()
        if not math.isfinite(state.last_loss):
            raise FloatingPointError(f"training loss became {state.last_loss} at step {step}")
        unpadded = sum(len(it.input_ids) for it in items)
        state.step, state.samples, state.tokens = step, state.samples + len(items), state.tokens + unpadded
        window["loss"] += state.last_loss
        window["steps"] += 1
        window["tokens"] += unpadded
        on_step(state)
        if step % cfg.eval_steps == 0 or step == cfg.max_steps:
            state.metrics.append(_window_row(state, window, validate, started))
            window = {"loss": 0.0, "steps": 0, "tokens": 0, "time": state.train_time.total}
            model.train()
    return state


def _window_row(state: TrainState, window: dict, validate: Callable[[], dict], started: float) -> dict:
    train_seconds = state.train_time.total - window["time"]
    eval_start = time.perf_counter()
    valid = validate()
    return {
        "step": state.step,
        "train loss": window["loss"] / max(window["steps"], 1),
        "train samples": state.samples,
        "train time": train_seconds,
        "eval time": time.perf_counter() - eval_start,
        "tokens / sec": window["tokens"] / train_seconds if train_seconds > 0 else None,
        **valid,
        "elapsed time": time.perf_counter() - started,
    }
