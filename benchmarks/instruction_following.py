"""The untrained model's instruction following on peftbench's offline prompt set: its pass rate with a
95% interval, per instruction kind, and what answering the set costs (the time the retention
measurement adds to a run, per model: the tuned model always, the base model once per sweep).

    python benchmarks/instruction_following.py                 # 350 prompts, 160 new tokens
    python benchmarks/instruction_following.py --size 56

Prints its setup (model, size, threads, machine) first. The answers are greedy, so the figure is the
one every run's `base instruction following` reports for this model and size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from collections import defaultdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minimath", help="whose default model and evaluation batch size")
    parser.add_argument("--size", type=int, default=350)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from peftbench.afterwards import instructions
    from peftbench.afterwards.retention import answer, chat_prompt
    from peftbench.planning.config import build_config
    from peftbench.system.environment import system_info
    from peftbench.tasks.registry import task_spec
    from peftbench.text.models import load_model

    torch.set_num_threads(args.threads)
    spec = task_spec(args.task)
    cfg = build_config(spec.defaults, {}, "defaults", spec.config_model)
    model, tokenizer, info = load_model(cfg, torch.device("cpu"))
    system = system_info()
    print(f"setup: {cfg.model_id} ({args.task} defaults, batch {cfg.batch_size_eval}), {args.size} prompts "
          f"(version {instructions.VERSION}), {args.max_new_tokens} new tokens, greedy, chat template; "
          f"{system['accelerator']}, {args.threads} torch thread(s), {dt.date.today()}", flush=True)
    items = instructions.prompts(args.size)
    started = time.perf_counter()
    responses = answer(model, tokenizer, cfg, [chat_prompt(tokenizer, p.text) for p in items], args.max_new_tokens)
    seconds = time.perf_counter() - started
    passed = [instructions.passes(p, r) for p, r in zip(items, responses)]
    rate = sum(passed) / len(passed)
    half = 1.959963984540054 * math.sqrt(rate * (1 - rate) / len(passed))
    print(f"pass rate {rate:.1%} [{rate - half:.1%}, {rate + half:.1%}] (95% normal interval, {len(passed)} prompts); "
          f"{seconds:.0f} s to answer them ({seconds / len(passed):.2f} s a prompt)")
    kinds = defaultdict(list)
    for prompt, ok in zip(items, passed):
        kinds[prompt.instruction].append(ok)
    for kind, oks in sorted(kinds.items()):
        print(f"  {kind:48} {sum(oks):3d} / {len(oks):3d}")


if __name__ == "__main__":
    main()
