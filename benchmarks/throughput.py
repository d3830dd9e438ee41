"""Training tokens/s and evaluation problems/s: plain reference-style loops vs peftbench's paths.

Both run in this one process, on the same model object, data, adapter, batch sizes and threads, back to
back and interleaved (plain, peftbench, plain, peftbench, ...) so a change in the machine's load hits
both alike. Training: the plain loop pads to the longest row, computes logits at every position and
takes the model's own loss from `labels` (as the reference suite does); peftbench's path is
`peftbench.training.sft.train` with `causal_lm_loss`. Evaluation (after the training rounds, on the same
weights): plain batched greedy `model.generate` vs `peftbench.text.evaluate.generate_answers` (finished rows
leave the batch), and the same with `stop=extract.answer_is_final` (a row also stops once its
extracted answer cannot change; runs use it once the task passes it), checked item by item against
plain: identical text (or, with the stop rule, a prefix of it), extracted answer and correctness.

Usage: python benchmarks/throughput.py [--experiment experiments/minimath/lora/default] [--steps 8]
       [--problems 50] [--eval-rounds 2] [--test-set gsm8k] [--threads N] [--device cuda]
On CUDA the clock waits for the device at the end of each timed block; the CPU-second figures then
say nothing about the device's work, compare the wall-clock ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from importlib import metadata

import torch

from peftbench.adapters.build import build_optimizer, build_scheduler, wrap_model
from peftbench.system.environment import system_info
from peftbench.telemetry.measure import MemorySampler
from peftbench.telemetry.memory_accounting import AccountedMemory
from peftbench.planning.plan import plan_run
from peftbench.text import greedy
from peftbench.text.data import IGNORE_INDEX, encode_all, format_prompt, text_batches
from peftbench.text.evaluate import generate_answers, generation_batches, plain_generate_answers, score_answers
from peftbench.text.extract import answer_is_final
from peftbench.text.lm_loss import causal_lm_loss, plain_causal_lm_loss
from peftbench.text.models import load_model
from peftbench.training.hooks import Hooks, Meters
from peftbench.training.sft import TrainState, mixed_precision, train

DEVICE = torch.device("cpu")  # set from --device in main()


def load() -> float:
    return os.getloadavg()[0]


class Clock:
    """Wall and CPU seconds of a block. On a machine shared with other work, this process's CPU time
    is the steadier measure of the work done (with one torch thread; more threads spin while waiting)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if DEVICE.type == "cuda":
            torch.cuda.synchronize(DEVICE)  # the block's kernels, not just their launch
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def plain_step(model, optimizer, scheduler, batch, cfg) -> None:
    """The reference suite's step: the model's own loss over full logits."""
    optimizer.zero_grad()
    with mixed_precision(cfg, DEVICE):  # the same mixed precision as the training loop's (CUDA + use_amp only)
        loss = plain_causal_lm_loss(model, batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_norm_clip)
    optimizer.step()
    scheduler.step()
    loss.item()


def peftbench_step(model, optimizer, scheduler, batch, cfg) -> None:
    """One step of peftbench's own loop (`training.sft.train`) and loss, with the accounted-memory hooks a run
    has on (their cost is part of the measured figure)."""
    one = cfg.model_copy(update={"max_steps": 1, "eval_steps": 1})
    with MemorySampler(DEVICE) as memory, AccountedMemory(model, optimizer) as accounted:
        train(model, optimizer, scheduler, iter([batch]), causal_lm_loss, one, DEVICE, TrainState(),
              Meters(memory, accounted), Hooks(validate=dict))


def measure_training(model, data, tokenizer, cfg, steps: int) -> dict[str, dict[str, float]]:
    """Both paths on each batch in turn, alternating which goes first, so load changes hit both."""
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    paths = {"plain": plain_step, "peftbench": peftbench_step}
    totals = {name: {"tokens": 0, "wall": 0.0, "cpu": 0.0} for name in paths}
    batches = text_batches(data, cfg.batch_size, cfg.seed, tokenizer.pad_token_id, DEVICE)
    warm = next(batches)
    for step in paths.values():  # one-off allocations, and the fast loss's once-per-model check
        step(model, optimizer, scheduler, warm, cfg)
    for i in range(steps):
        batch = next(batches)
        for name in (("plain", "peftbench") if i % 2 == 0 else ("peftbench", "plain")):
            with Clock() as clock:
                paths[name](model, optimizer, scheduler, batch, cfg)
            totals[name]["tokens"] += batch.tokens
            totals[name]["wall"] += clock.wall
            totals[name]["cpu"] += clock.cpu
        print(f"  batch {i + 1:2d} ({batch.tokens} tokens): " + ", ".join(
            f"{n} {totals[n]['wall']:.1f} s wall / {totals[n]['cpu']:.1f} s cpu so far" for n in paths)
            + f"; load {load():.1f}", flush=True)
    return {name: {"wall": t["tokens"] / t["wall"], "cpu": t["tokens"] / t["cpu"]} for name, t in totals.items()}


def linear_work(model) -> tuple[int, int]:
    """Multiply-adds per position: (decoder body's linear weights, output head's weights)."""
    head = model.get_output_embeddings()
    head_id = id(head.weight)
    body = sum(m.weight.numel() for m in model.modules()
               if isinstance(m, torch.nn.Linear) and id(m.weight) != head_id)
    return body, head.weight.numel()


def work_bound(model, data, tokenizer, cfg, steps: int) -> None:
    """How much faster the loss on labelled positions can make a step at most, from counted work.

    Per padded position, a step multiplies every linear weight of the decoder body once forward and
    once backward (input gradients; frozen weights get no weight gradient), and the output head alike.
    Computing the head only at labelled positions removes the head's share at the other positions and
    nothing else, so the step can be at most (body + head) / (body + head x labelled share) faster.
    Counted on the batches the training measurement uses (same seed, same bucketing)."""
    body, head_work = linear_work(model)
    batches = text_batches(data, cfg.batch_size, cfg.seed, tokenizer.pad_token_id, torch.device("cpu"))
    next(batches)  # the warm-up batch
    padded = labelled = 0
    for _ in range(steps):
        labels = next(batches).inputs["labels"]
        padded += labels.numel()
        labelled += int((labels[:, 1:] != IGNORE_INDEX).sum())
    share = labelled / padded
    print(f"work per position: body linear weights {body / 1e6:.1f} M, output head {head_work / 1e6:.1f} M "
          f"({head_work / (body + head_work):.0%} of a position's matmul work); labelled positions "
          f"{labelled} of {padded} padded ({share:.0%}); so the labelled-positions loss can make a step at "
          f"most {(body + head_work) / (body + head_work * share):.2f}x faster")


def eval_work(prompt_lengths: list[int], generated: list[int], group: int | None) -> dict[str, int]:
    """Positions each path computes for one eval batch.

    `generated`: tokens each row emits, EOS included. Plain `generate` runs the prompt pass over the
    batch's longest prompt and feeds every row until the last one finishes; peftbench runs the prompt
    pass in groups of `group` rows of similar length and feeds a row only until it finishes."""
    steps = max(generated) - 1  # the prompt pass yields the first token; each later one costs a step
    if group is None:
        return {"prompt": len(prompt_lengths) * max(prompt_lengths), "rows": len(generated) * steps, "steps": steps}
    ordered = sorted(prompt_lengths, reverse=True)
    prompt = sum(len(ordered[i : i + group]) * ordered[i] for i in range(0, len(ordered), group))
    return {"prompt": prompt, "rows": sum(g - 1 for g in generated), "steps": steps}


def eval_work_bound(model, tokenizer, cfg, examples, answers: dict[str, list[str]]) -> None:
    """How much faster peftbench's generation can be at most, from counted work: prompt positions cost
    the body's weights, each decoding row-step the body's and the head's. What it leaves out is the
    cost per decoding step that does not grow with rows (streaming the weights, launching operations),
    which a path can only cut by taking fewer steps."""
    body, head = linear_work(model)
    budget = cfg.generation_kwargs.max_new_tokens
    totals = {path: {"prompt": 0, "rows": 0, "steps": 0} for path in answers}
    for idx in generation_batches(examples, cfg.batch_size_eval):  # the batches evaluation runs
        lengths = [len(tokenizer(format_prompt(cfg.query_template, examples[i].question))["input_ids"]) for i in idx]
        for path, texts in answers.items():
            counts = [len(tokenizer(texts[i], add_special_tokens=False)["input_ids"]) for i in idx]
            generated = [min(c + 1, budget) for c in counts]  # + EOS, unless the row ran to the budget
            group = None if path == "plain" else greedy.PREFILL_GROUP
            for key, value in eval_work(lengths, generated, group).items():
                totals[path][key] += value
    work = {path: t["prompt"] * body + t["rows"] * (body + head) for path, t in totals.items()}
    plain = totals["plain"]
    for name, ours in totals.items():
        if name != "plain":
            print(f"evaluation work, plain vs {name}: prompt positions {plain['prompt']} vs {ours['prompt']}, "
                  f"decoding row-steps {plain['rows']} vs {ours['rows']}, decoding steps {plain['steps']} vs "
                  f"{ours['steps']}; so {name} can be at most {work['plain'] / work[name]:.2f}x faster from "
                  f"counted work (generated lengths from re-tokenised answers)")


def generate_with_stop(model, tokenizer, cfg, examples):
    """peftbench's generation, each row also stopping once its extracted answer can no longer change."""
    return generate_answers(model, tokenizer, cfg, examples, stop=answer_is_final)


EVAL_PATHS = {"plain": plain_generate_answers, "peftbench": generate_answers, "peftbench+stop": generate_with_stop}


def measure_evaluation(model, tokenizer, cfg, examples, rounds: int):
    """Each path generates for all examples; each round runs the paths in another order."""
    names = list(EVAL_PATHS)
    totals = {name: {"wall": 0.0, "cpu": 0.0} for name in names}
    answers = {}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            with Clock() as clock:
                answers[name] = EVAL_PATHS[name](model, tokenizer, cfg, examples)
            totals[name]["wall"] += clock.wall
            totals[name]["cpu"] += clock.cpu
            print(f"  round {round_ + 1} {name:14s}: {clock.wall:.1f} s wall, {clock.cpu:.1f} s cpu, "
                  f"load {load():.1f}", flush=True)
    n = len(examples) * rounds
    rates = {name: {"wall": n / t["wall"], "cpu": n / t["cpu"]} for name, t in totals.items()}
    return rates, answers


def compare_answers(examples, answers: dict[str, list[str]], task, cfg, tokenizer) -> None:
    prompt = lambda q: format_prompt(cfg.query_template, q)  # noqa: E731
    rows = {name: score_answers(examples, texts, task.score, prompt)[1] for name, texts in answers.items()}
    key = lambda r: (r["extracted"], r["correct"])  # noqa: E731
    for name in answers:
        if name == "plain":
            continue
        same_text = sum(a == b for a, b in zip(answers["plain"], answers[name]))
        prefix = sum(b.startswith(a) or a.startswith(b) for a, b in zip(answers["plain"], answers[name]))
        same_score = sum(key(a) == key(b) for a, b in zip(rows["plain"], rows[name]))
        print(f"{name} vs plain, of {len(examples)} problems: identical text {same_text}, text a prefix of "
              f"plain's {prefix}, identical extracted answer and correctness {same_score}")
    for name, texts in answers.items():
        lengths = sorted(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        print(f"{name}: generated tokens per problem min {lengths[0]}, median {lengths[len(lengths) // 2]}, "
              f"max {lengths[-1]}, mean {sum(lengths) / len(lengths):.1f}; accuracy "
              f"{sum(r['correct'] for r in rows[name]) / len(rows[name]):.2f}")


def print_setup(args, cfg, run) -> None:
    info = system_info()
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "transformers", "peft"))
    print(f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}")
    print(f"machine: {info['accelerator']}, {os.cpu_count()} cpus, {platform.platform()}; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
    print(f"software: {versions}, python {platform.python_version()}; torch threads {torch.get_num_threads()}, "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"experiment: {run.experiment.full_name} on {run.experiment.task}, model {cfg.model_id} ({cfg.dtype}) on {DEVICE}, use_amp {cfg.use_amp}; "
          f"batch {cfg.batch_size}, loss_on {cfg.loss_on}, eval batch {cfg.batch_size_eval}, "
          f"max_new_tokens {cfg.generation_kwargs.max_new_tokens}")
    print(f"measured: training {args.steps} batches, each trained once by each path in alternating order "
          f"(after 1 warm-up step each); evaluation {args.eval_rounds} round(s) x {args.problems} problems of test set "
          f"{args.test_set or '(main)'} per path")


def ratio_lines(label: str, unit: str, rates: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for clock in ("wall", "cpu"):
        per = "per wall second" if clock == "wall" else "per CPU second of this process"
        plain = rates["plain"][clock]
        ours = ", ".join(f"{name} {r[clock]:.2f} (ratio {r[clock] / plain:.2f}x)"
                         for name, r in rates.items() if name != "plain")
        lines.append(f"{label} ({unit} {per}): plain {plain:.2f}, {ours}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/minimath/lora/default")
    parser.add_argument("--steps", type=int, default=8, help="timed training batches (each trained by both paths)")
    parser.add_argument("--problems", type=int, default=50, help="test problems generated per path and round")
    parser.add_argument("--eval-rounds", type=int, default=2)
    parser.add_argument("--test-set", default="", help="which of the task's test sets (e.g. gsm8k); default its main one")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    run = plan_run(args.experiment)
    cfg, task = run.cfg, run.spec.create()
    print_setup(args, cfg, run)
    torch.manual_seed(cfg.seed)
    model, tokenizer, _ = load_model(cfg, DEVICE)
    data = encode_all(tokenizer, cfg.query_template, task.train_examples(cfg), cfg.max_seq_length, cfg.loss_on)
    model = wrap_model(model, run.experiment.peft_config, args.experiment, cfg.autocast_adapter_dtype)
    sets = {ts.name: ts.examples for ts in task.test_sets(cfg)}
    if args.test_set not in sets:
        parser.error(f"--test-set {args.test_set!r}: {run.experiment.task} has {sorted(sets)}")
    examples = sets[args.test_set][: args.problems]

    print("training (tokens/s of unpadded training tokens, wall clock):")
    train_rates = measure_training(model, data, tokenizer, cfg, args.steps)
    work_bound(model, data, tokenizer, cfg, args.steps)
    print("evaluation (greedy, on the weights trained above):")
    eval_rates, answers = measure_evaluation(model, tokenizer, cfg, examples, args.eval_rounds)
    for line in ratio_lines("training", "tokens", train_rates) + ratio_lines("evaluation", "problems", eval_rates):
        print(line)
    compare_answers(examples, answers, task, cfg, tokenizer)
    eval_work_bound(model, tokenizer, cfg, examples, answers)
    print(f"load average at end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
