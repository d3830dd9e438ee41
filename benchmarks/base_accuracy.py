"""Accuracy of the untuned base model on a task's test sets, with the task's own prompt and decoding.

The floor every method starts from. Usage: python benchmarks/base_accuracy.py [--task minimath]
"""

from __future__ import annotations

import argparse
import time

import torch

from peftbench.metrics import task_metric
from peftbench.tasks import task_spec
from peftbench.text.data import format_prompt
from peftbench.text.evaluate import generate_answers, score_answers
from peftbench.text.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minimath")
    args = parser.parse_args()

    spec = task_spec(args.task)
    task = spec.create()
    cfg = spec.config_model.model_validate(spec.defaults)
    model, tokenizer, info = load_model(cfg, torch.device("cpu"))
    print(f"setup: task {args.task}, model {info['model_id']}, no fine-tuning, greedy, "
          f"max_new_tokens {cfg.generation_kwargs.max_new_tokens}, template {cfg.query_template!r}")
    for test in task.test_sets(cfg):
        start = time.perf_counter()
        answers = generate_answers(model, tokenizer, cfg, test.examples)
        accuracy, _ = score_answers(test.examples, answers, task.score, lambda q: format_prompt(cfg.query_template, q))
        name = task_metric("test", spec.metric, test.name)
        print(f"{name}: {accuracy:.1%} of {len(test.examples)} items ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
