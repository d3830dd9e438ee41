"""What each training lever is worth on this machine: the plain loss (logits at every position) against
the labelled-positions loss, each with and without the accounted-memory hooks, and optionally
`torch.compile` of the decoder body (its compile time and its steady step time).

All variants train the same batches of the default LoRA experiment on one model, interleaved, and are
timed in CPU seconds of this process (steadier than wall time on a shared machine with one torch thread).

Usage: python benchmarks/training_levers.py [--experiment experiments/minimath/lora/default]
       [--batches 5] [--rounds 2] [--threads 1] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from peftbench.adapters.build import build_optimizer, wrap_model
from peftbench.telemetry.memory_accounting import AccountedMemory
from peftbench.text.data import encode_all, text_batches
from peftbench.text.lm_loss import labelled_positions_loss, plain_loss
from peftbench.text.models import load_model

from setup_line import begin  # benchmarks/setup_line.py


def make_step(model, optimizer, loss_fn, hooks: bool):
    """One optimizer step as a run takes it (clipping included), optionally under the accounted-memory hooks."""
    def step(batch) -> float:
        accounting = AccountedMemory(model, optimizer) if hooks else contextlib.nullcontext()
        with accounting as accounted:
            loss = loss_fn(model, batch.inputs)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            if hooks:
                accounted.step()
            optimizer.zero_grad(set_to_none=True)
        return loss.item()
    return step


def cpu_seconds(fn, *args) -> float:
    began = time.process_time()
    fn(*args)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/minimath/lora/default")
    parser.add_argument("--batches", type=int, default=5, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the decoder body")
    args = parser.parse_args()
    run, cfg, task = begin(args.experiment, args.threads)
    print(f"experiment: {run.experiment.full_name}, model {cfg.model_id} ({cfg.dtype}), batch {cfg.batch_size}, "
          f"loss_on {cfg.loss_on}; {args.rounds} rounds x {args.batches} batches per variant, CPU seconds")
    torch.manual_seed(cfg.seed)
    model, tokenizer, _ = load_model(cfg, torch.device("cpu"))
    data = encode_all(tokenizer, cfg.query_template, task.train_examples(cfg), cfg.max_seq_length, cfg.loss_on)
    model = wrap_model(model, run.experiment.peft_config, args.experiment, cfg.autocast_adapter_dtype)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    batches = text_batches(data, cfg.batch_size, cfg.seed, tokenizer.pad_token_id, torch.device("cpu"))
    warm, timed = next(batches), [next(batches) for _ in range(args.batches)]
    variants = {
        "plain loss": make_step(model, optimizer, plain_loss, hooks=False),
        "plain loss + accounted memory": make_step(model, optimizer, plain_loss, hooks=True),
        "labelled-positions loss": make_step(model, optimizer, labelled_positions_loss, hooks=False),
        "labelled-positions loss + accounted memory": make_step(model, optimizer, labelled_positions_loss, hooks=True),
    }
    for step in variants.values():
        step(warm)
    totals = dict.fromkeys(variants, 0.0)
    for _ in range(args.rounds):
        for batch in timed:
            for name, step in variants.items():
                totals[name] += cpu_seconds(step, batch)
    plain = totals["plain loss"]
    for name, seconds in totals.items():
        print(f"{name}: {seconds:.1f} s, speed vs plain loss {plain / seconds:.2f}x")
    if args.compile:
        compile_body(model, variants["labelled-positions loss"], warm, timed, args.rounds)


def compile_body(model, step, warm, timed, rounds: int) -> None:
    """Compile the decoder body (dynamic shapes, so new lengths do not recompile), time the first
    (compiling) step, then eager against compiled on the same batches."""
    parent, name = model.get_base_model(), "model"  # the decoder body: what holds the layers
    eager = getattr(parent, name)
    compiled = torch.compile(eager, dynamic=True)
    setattr(parent, name, compiled)
    wall = time.perf_counter()
    first = cpu_seconds(step, warm)
    print(f"torch.compile: first step (compiling) {first:.0f} CPU s, {time.perf_counter() - wall:.0f} s wall")
    totals = {"eager": 0.0, "compiled": 0.0}
    for _ in range(rounds):
        for batch in timed:
            for label, module in (("eager", eager), ("compiled", compiled)):
                setattr(parent, name, module)
                totals[label] += cpu_seconds(step, batch)
    setattr(parent, name, eager)
    print(f"torch.compile, labelled-positions loss: eager {totals['eager']:.1f} s, compiled {totals['compiled']:.1f} s, "
          f"speed {totals['eager'] / totals['compiled']:.2f}x once compiled")


if __name__ == "__main__":
    main()
