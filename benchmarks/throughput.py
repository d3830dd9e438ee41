"""Training tokens/s and evaluation problems/s of the default `minimath` LoRA experiment.

Prints the machine's fp32 matmul peak for scale, so figures from different machines can be compared.
Usage: python benchmarks/throughput.py [--steps 8] [--problems 32] [--experiment experiments/minimath/lora/default]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from peftbench.adapters import build_optimizer, build_scheduler, wrap_model
from peftbench.data import collate, encode_all, endless_batches
from peftbench.evaluate import generate_answers
from peftbench.environment import system_info
from peftbench.models import load_model
from peftbench.plan import plan_run


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def train_tokens_per_second(model, cfg, data, pad_id, steps: int, warmup: int = 2) -> float:
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    batches = endless_batches([len(d.input_ids) for d in data], cfg.batch_size, cfg.seed)
    model.train()
    tokens, seconds = 0, 0.0
    for step in range(warmup + steps):
        items = [data[i] for i in next(batches)]
        batch = collate(items, pad_id)
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if step >= warmup:  # the first steps pay one-off allocation costs
            seconds += time.perf_counter() - start
            tokens += sum(len(it.input_ids) for it in items)
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/minimath/lora/default")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--problems", type=int, default=32)
    args = parser.parse_args()

    run = plan_run(args.experiment)
    cfg = run.cfg
    model, tokenizer, _ = load_model(cfg, torch.device("cpu"))
    data = encode_all(tokenizer, cfg.query_template, run.spec.create().train_examples(cfg), cfg.max_seq_length, cfg.loss_on)
    model = wrap_model(model, run.experiment.peft_config, args.experiment, cfg.autocast_adapter_dtype)
    test = run.spec.create().test_sets(cfg)[0].examples[: args.problems]

    peak = matmul_gflops()
    tok_s = train_tokens_per_second(model, cfg, data, tokenizer.pad_token_id, args.steps)
    start = time.perf_counter()
    generate_answers(model, tokenizer, cfg, test)
    problems_s = len(test) / (time.perf_counter() - start)

    info = system_info()
    print(f"setup: {run.experiment.full_name}, model {cfg.model_id}, batch {cfg.batch_size}, "
          f"eval batch {cfg.batch_size_eval}, max_new_tokens {cfg.generation_kwargs.max_new_tokens}")
    print(f"machine: {info['accelerator']}, {info['cpu_count']} cpus, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), python {platform.python_version()}")
    print(f"fp32 matmul peak (2048x2048): {peak:.1f} GFLOP/s")
    print(f"training: {tok_s:.1f} tokens/s over {args.steps} steps (after 2 warm-up steps)")
    print(f"evaluation: {problems_s:.2f} problems/s over {len(test)} minimath test problems (greedy)")


if __name__ == "__main__":
    main()
