"""Where test generation's time goes on this machine: the prompt pass (prefill) against the decoding
steps, what one decoding step costs at several batch widths, which operations a decoding step spends
its time in (torch.profiler, with transformers' growing cache and with peftbench's reserved room),
and how much generated text a stop rule could save on real answers. Explains which evaluation levers can pay on a CPU.

Usage: python benchmarks/eval_costs.py [--experiment experiments/minimath/lora/default] [--threads 1]
       [--predictions published/minimath-defaults/minimath/lora--default.predictions.jsonl]
The model is the experiment's base with its adapter freshly attached (untrained: the costs do not depend
on the weights); prompts are the task's test sets, batched as runs batch them (longest first,
`batch_size_eval` rows, left padding).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from peftbench.adapters.build import wrap_model
from peftbench.text import greedy
from peftbench.text.data import format_prompt
from peftbench.text.extract import answer_is_final
from peftbench.text.models import load_model

from setup_line import begin  # benchmarks/setup_line.py

WIDTHS = (1, 8, 16, 50)
STEPS = 6  # decoding steps timed per width (after one untimed)


def prefill_seconds(model, tokenizer, cfg, questions: list[str]) -> tuple[float, int, int]:
    """Seconds of the prompt passes over `questions` batched as a run batches them; real and padded positions."""
    order = sorted(questions, key=len, reverse=True)
    seconds, real, padded = 0.0, 0, 0
    for start in range(0, len(order), cfg.batch_size_eval):
        prompts = [format_prompt(cfg.query_template, q) for q in order[start : start + cfg.batch_size_eval]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True)
        began = time.perf_counter()
        with torch.no_grad():
            greedy.prefill(model, enc["input_ids"], enc["attention_mask"])
        seconds += time.perf_counter() - began
        real += int(enc["attention_mask"].sum())
        padded += enc["input_ids"].numel()
    return seconds, real, padded


def step_seconds(model, width: int) -> float:
    """Mean seconds of one decoding step over the KV cache of `width` rows with 60-token prompts."""
    decoder = greedy.decoder_of(model)
    ids = torch.randint(100, 1000, (width, 60), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = decoder(input_ids=ids, use_cache=True)
        cache, key = greedy.cache_of(out), "cache" if "cache" in greedy.forward_params(decoder) else "past_key_values"
        token = ids[:, -1:]
        decoder(input_ids=token, use_cache=True, **{key: cache})
        began = time.perf_counter()
        for _ in range(STEPS):
            decoder(input_ids=token, use_cache=True, **{key: cache})
    return (time.perf_counter() - began) / STEPS


PROFILED = {"aten::mm": "matrix products", "aten::cat": "cache copies (cat)",
            "aten::_scaled_dot_product_flash_attention_for_cpu": "attention"}


def decode_profile(model, tokenizer, cfg, questions: list[str], reserve: bool) -> dict[str, float]:
    """Shares of self CPU time of STEPS decoding steps over the first eval batch (longest prompts), by
    operation; `reserve`: with the room `greedy` reserves after the prompt instead of a growing cache."""
    from torch.profiler import ProfilerActivity, profile

    prompts = [format_prompt(cfg.query_template, q) for q in sorted(questions, key=len, reverse=True)[: cfg.batch_size_eval]]
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    decoder = greedy.decoder_of(model)
    key = "cache" if "cache" in greedy.forward_params(decoder) else "past_key_values"
    with torch.no_grad():
        out, cache, mask, position = greedy.prefill(model, enc["input_ids"], enc["attention_mask"])
        if reserve:
            greedy.reserve(cache, STEPS + 1)
        token = out.logits[:, -1].argmax(-1)

        def step():
            nonlocal mask, position, token
            mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
            position = position + 1
            step_out = decoder(input_ids=token[:, None], attention_mask=mask, position_ids=position,
                               use_cache=True, **{key: cache})
            token = step_out.logits[:, -1].argmax(-1)

        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(STEPS):
                step()
    times = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(times.values())
    return {label: times.get(op, 0) / total for op, label in PROFILED.items()}


def stop_rule_share(path: Path) -> dict[str, tuple[int, int]]:
    """Per test set: characters generated, and characters up to where `answer_is_final` would have stopped."""
    shares: dict[str, tuple[int, int]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        text = row.get("prediction")
        if not isinstance(text, str):
            continue
        until = next((i for i in range(1, len(text) + 1) if answer_is_final(text[:i])), len(text))
        total, kept = shares.get(row.get("test_set", ""), (0, 0))
        shares[row.get("test_set", "")] = (total + len(text), kept + until)
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/minimath/lora/default")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--predictions", type=Path, help="a run's predictions sidecar, for the stop rule's share")
    args = parser.parse_args()
    run, cfg, task = begin(args.experiment, args.threads)
    print(f"experiment: {run.experiment.full_name}, model {cfg.model_id} ({cfg.dtype}), eval batch {cfg.batch_size_eval}")
    model, tokenizer, _ = load_model(cfg, torch.device("cpu"))
    model = wrap_model(model, run.experiment.peft_config, args.experiment, cfg.autocast_adapter_dtype)
    model.eval()
    tokenizer.padding_side = "left"
    for test_set in task.test_sets(cfg):
        questions = [ex.question for ex in test_set.examples]
        seconds, real, padded = prefill_seconds(model, tokenizer, cfg, questions)
        print(f"prefill {test_set.name or 'test'}: {len(questions)} prompts, {seconds:.1f} s, {real} real of {padded} "
              f"positions ({real / padded:.0%}), {real / seconds:.0f} real positions/s")
    for test_set in task.test_sets(cfg):
        questions = [ex.question for ex in test_set.examples]
        for reserve in (False, True):
            shares = decode_profile(model, tokenizer, cfg, questions, reserve)
            kind = "room reserved after the prompt" if reserve else "transformers' growing cache"
            print(f"decoding step profile, {test_set.name or 'test'} (first {cfg.batch_size_eval} prompts), {kind}: "
                  + ", ".join(f"{label} {share:.0%}" for label, share in shares.items()))
    for width in WIDTHS:
        print(f"decoding step, {width} rows: {step_seconds(model, width) * 1000:.0f} ms")
    if args.predictions:
        for name, (total, kept) in stop_rule_share(args.predictions).items():
            print(f"stop rule on {args.predictions.name} [{name or 'test'}]: {kept} of {total} generated characters "
                  f"precede the point where the answer is final ({1 - kept / max(total, 1):.0%} could be saved)")
    print(f"load at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
