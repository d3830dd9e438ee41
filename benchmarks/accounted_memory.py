"""Accounted training memory (telemetry/memory_accounting.py) of several experiments, each run twice.

A few training steps of each experiment through `peftbench.training.sft.train` on the real model, with
`AccountedMemory` next to the RSS sampler; prints max / mean and the breakdown at the peak step in
MB (10^6 bytes), and whether the second run gave the same figures as the first. With `--device cuda`
it trains on the GPU and prints the CUDA allocator's allocated and reserved peaks beside the
accounted figure (the device check of the accounted memory).

Usage: python benchmarks/accounted_memory.py [--steps 3] [--threads N] [--device cuda] [EXPERIMENT_DIR ...]
  default experiments: experiments/minimath/{full-finetuning,lora,ia3}/default
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

import torch

from peftbench.adapters.build import build_optimizer, build_scheduler, wrap_model
from peftbench.system.environment import system_info
from peftbench.telemetry.measure import MemorySampler
from peftbench.telemetry.memory_accounting import AccountedMemory
from peftbench.planning.plan import plan_run
from peftbench.text.data import encode_all, text_batches
from peftbench.text.lm_loss import causal_lm_loss
from peftbench.text.models import load_model
from peftbench.training.hooks import Hooks, Meters
from peftbench.training.sft import TrainState, train

DEFAULTS = [f"experiments/minimath/{m}/default" for m in ("full-finetuning", "lora", "ia3")]
MB = 1e6


def accounted_run(exp_dir: str, steps: int, device: torch.device) -> tuple[dict, dict]:
    run = plan_run(exp_dir, max_steps=steps)
    cfg = run.cfg.model_copy(update={"eval_steps": steps})
    torch.manual_seed(cfg.seed)
    model, tokenizer, _ = load_model(cfg, device)
    data = encode_all(tokenizer, cfg.query_template, run.spec.create().train_examples(cfg), cfg.max_seq_length, cfg.loss_on)
    model = wrap_model(model, run.experiment.peft_config, exp_dir, cfg.autocast_adapter_dtype)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    batches = text_batches(data, cfg.batch_size, cfg.seed, tokenizer.pad_token_id, device)
    with MemorySampler(device) as sampler, AccountedMemory(model, optimizer) as accounted:
        train(model, optimizer, scheduler, batches, causal_lm_loss, cfg, device, TrainState(),
              Meters(sampler, accounted), Hooks(validate=dict))
    return accounted.summary(), sampler.summary()


def allocator_figures(sampler: dict) -> str:
    """The device's own figures: RSS on CPU; allocated and reserved peaks on CUDA."""
    if "allocated_max" in sampler:
        return f"{sampler['allocated_max'] / MB:8.1f} {sampler['max'] / MB:8.1f}"
    return f"{sampler['max'] / MB:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", default=DEFAULTS)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    info = system_info()
    print(f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; {info['accelerator']}, "
          f"{info['cpu_count']} cpus, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{args.steps} training steps per run (minimath defaults: batch 4, loss_on answer), each experiment run twice; MB = 10^6 bytes")
    columns = ["alloc max", "rsvd max"] if device.type == "cuda" else ["rss max"]  # what allocator_figures prints
    device_columns = " ".join(f"{c:>8s}" for c in columns)
    print(f"{'experiment':28s} {'max':>8s} {'mean':>8s} | {'params':>8s} {'trainable':>9s} {'grads':>8s} "
          f"{'optim':>8s} {'saved':>8s} | {device_columns} {'same twice':>10s}")
    for exp in args.experiments:
        first, device_first = accounted_run(exp, args.steps, device)
        second, device_second = accounted_run(exp, args.steps, device)
        b = first["breakdown"]
        name = exp.rstrip("/").split("experiments/minimath/")[-1]
        print(f"{name:28s} {first['max'] / MB:8.1f} {first['avg'] / MB:8.1f} | {b['parameters'] / MB:8.1f} "
              f"{b['trainable_parameters'] / MB:9.2f} {b['gradients'] / MB:8.2f} {b['optimizer_state'] / MB:8.2f} "
              f"{b['saved_activations'] / MB:8.1f} | {allocator_figures(device_first)} {str(first == second):>10s}",
              flush=True)
        if first != second:
            print(f"  second run: {second}")
        print(f"  {' / '.join(columns)} of the second run: {allocator_figures(device_second).strip()} MB")


if __name__ == "__main__":
    main()
