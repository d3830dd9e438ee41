"""Sampled pass@k on a test set: `n` answers per problem drawn at a temperature, each scored by the
task's scorer, and for each k the unbiased estimate of the chance that at least one of k answers is
right (Chen et al. 2021: 1 - C(n-c, k) / C(n, k) with c of the n right), averaged over problems.

Greedy pass@1 (`test accuracy`) says what the model answers; pass@k says what it can find when it
tries several times — the figure reinforcement learning is often said to trade away (sharpening the
first answer, narrowing the rest). Sampling is seeded by the run's seed and the batches are fixed, so
the same run gives the same answers and the same figures.
"""

from __future__ import annotations

from math import comb
from typing import Callable

import torch

from peftbench.tasks.base import Example, Score
from peftbench.text.evaluate import batched_generation


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from `c` right answers out of `n` samples (k <= n)."""
    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)


@torch.no_grad()
def sample_answers(model, tokenizer, cfg, examples: list[Example], progress=None) -> list[list[str]]:
    """`cfg.sampled.samples` answers to each example, by plain temperature sampling (no top-k, no top-p),
    in the greedy pass's batches; the generator is seeded with the run's seed before the first batch."""
    settings = cfg.sampled
    n = settings.samples

    def decode(enc, budget) -> list[list[str]]:
        out = model.generate(**enc, max_new_tokens=budget, do_sample=True, temperature=settings.temperature,
                             top_k=0, top_p=1.0, num_return_sequences=n,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return [texts[row * n:(row + 1) * n] for row in range(enc["input_ids"].shape[0])]  # a prompt's samples are adjacent

    torch.manual_seed(cfg.seed)
    return batched_generation(model, tokenizer, cfg, examples, decode, progress, empty=[""] * n)


def sampled_pass(examples: list[Example], answers: list[list[str]], score: Callable[[str, str], Score],
                 ks: list[int]) -> tuple[dict[int, float], list[int]]:
    """pass@k for each k, averaged over the examples, and the number of right samples of each example."""
    right = [sum(score(text, ex.gold).correct for text in texts) for ex, texts in zip(examples, answers)]
    n = len(answers[0]) if answers else 0
    means = {k: sum(pass_at_k(n, c, k) for c in right) / len(right) if right else float("nan") for k in ks}
    return means, right
