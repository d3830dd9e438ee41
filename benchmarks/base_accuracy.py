"""Accuracy of the untuned base model on a task's test sets, with the task's own prompt and decoding.

The floor every method starts from. Usage: python benchmarks/base_accuracy.py [--task minimath]
"""

from __future__ import annotations

import argparse
import time

import torch

from peftbench.data import format_prompt
from peftbench.evaluate import generate_answers, score_answers
from peftbench.models import load_model
from peftbench.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minimath")
    args = parser.parse_args()

    task = get_task(args.task)
    from peftbench.config import TrainConfig

    cfg = TrainConfig.model_validate(task.default_params())
    model, tokenizer, info = load_model(cfg, torch.device("cpu"))
    print(f"setup: task {args.task}, model {info['model_id']}, no fine-tuning, greedy, "
          f"max_new_tokens {cfg.generation_kwargs.max_new_tokens}, template {cfg.query_template!r}")
    for test in task.test_sets(cfg):
        start = time.perf_counter()
        answers = generate_answers(model, tokenizer, cfg, test.examples)
        accuracy, _ = score_answers(test.examples, answers, task.score, lambda q: format_prompt(cfg.query_template, q))
        name = f"test {task.metric}" + (f" {test.name}" if test.name else "")
        print(f"{name}: {accuracy:.1%} of {len(test.examples)} items ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
