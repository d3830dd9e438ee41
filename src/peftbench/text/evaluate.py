"""Generation-based accuracy, forgetting and drift, as docs/design.md ("Metrics") defines them."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from peftbench.system.signals import check_stop
from peftbench.tasks.base import Example, Score
from peftbench.text import greedy
from peftbench.text.data import format_prompt


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Module-level switch, not a config field (a field would change every config hash): the benchmarks
# turn it off to time the plain path side by side.
FAST_GENERATION = True


@torch.no_grad()
def generate_answers(model, tokenizer, cfg, examples: list[Example], progress=None, stop=None) -> list[str]:
    """Batched greedy generation; the prompt is left-padded so every row continues at the right end.

    Finished rows leave the batch (`greedy.greedy_decode`) where that loop applies; otherwise, or
    with `FAST_GENERATION` off, `model.generate`. `stop(text)` may end a row once its answer is final
    (fast loop only)."""
    if FAST_GENERATION and greedy.supported(model):
        def decode(enc, budget):
            stop_row = None if stop is None else (lambda _row, toks: stop(tokenizer.decode(toks, skip_special_tokens=True)))
            rows = greedy.greedy_decode(model, enc["input_ids"], enc["attention_mask"], budget,
                                        tokenizer.eos_token_id, stop_row)
            return tokenizer.batch_decode(rows, skip_special_tokens=True)
    else:
        def decode(enc, budget):
            out = model.generate(**enc, max_new_tokens=budget, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return batched_generation(model, tokenizer, cfg, examples, decode, progress)


def plain_generate_answers(model, tokenizer, cfg, examples: list[Example], progress=None) -> list[str]:
    """Plain batched greedy `model.generate`, the reference suite's way: the benchmarks' baseline."""
    global FAST_GENERATION
    saved, FAST_GENERATION = FAST_GENERATION, False
    try:
        return generate_answers(model, tokenizer, cfg, examples, progress)
    finally:
        FAST_GENERATION = saved


def generation_batches(examples: list[Example], size: int) -> Iterator[list[int]]:
    """The example indices of each generation batch, longest question first: each batch holds similar
    lengths, so little padding is wasted."""
    return _batches(sorted(range(len(examples)), key=lambda i: -len(examples[i].question)), size)


def batched_generation(model, tokenizer, cfg, examples, decode, progress, empty="") -> list:
    """`decode(enc, budget)`'s answer to each example (one entry per prompt of the batch), in
    `generation_batches`; `empty` for an example whose prompt leaves no room to generate."""
    model.eval()
    gen = cfg.generation_kwargs
    device = next(model.parameters()).device
    by_index: dict[int, object] = {}
    for idx in generation_batches(examples, cfg.batch_size_eval):
        check_stop()
        prompts = [format_prompt(cfg.query_template, examples[i].question) for i in idx]
        enc = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
        budget = min(gen.max_new_tokens, gen.max_length - enc["input_ids"].shape[1])
        texts = decode(enc, budget) if budget > 0 else [empty] * len(idx)
        by_index.update(zip(idx, texts))
        if progress:
            progress(len(idx))
    return [by_index[i] for i in range(len(examples))]


def score_answers(
    examples: list[Example], answers: list[str], score: Callable[[str, str], Score], prompt_of: Callable[[str], str]
) -> tuple[float, list[dict]]:
    """Accuracy and one prediction row per item (the predictions sidecar)."""
    rows = []
    for ex, text in zip(examples, answers):
        s = score(text, ex.gold)
        rows.append(
            {
                "id": ex.id,
                "prompt": prompt_of(ex.question),
                "gold": ex.gold,
                "prediction": text,
                "extracted": s.extracted,
                "correct": s.correct,
            }
        )
    accuracy = sum(r["correct"] for r in rows) / len(rows) if rows else float("nan")
    return accuracy, rows


def encode_corpus(tokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    return [tokenizer(t, truncation=True, max_length=max_tokens)["input_ids"] for t in texts]


def _padded(seqs: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.tensor(s)
        mask[row, : len(s)] = 1
    return ids.to(device), mask.to(device)


def _shifted_logprobs(model, ids, mask) -> torch.Tensor:
    logits = model(input_ids=ids, attention_mask=mask).logits
    # Prompt learning (prompt/prefix/p-tuning) prepends virtual-token positions: keep the real ones.
    logits = logits[:, logits.shape[1] - ids.shape[1] :]
    return F.log_softmax(logits[:, :-1].float(), dim=-1)


@torch.no_grad()
def corpus_cross_entropy(model, corpus: list[list[int]], pad_id: int, batch_size: int) -> float:
    """Mean per-token cross-entropy over the whole corpus (each token counts once)."""
    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for seqs in _batches(corpus, batch_size):
        check_stop()
        ids, mask = _padded(seqs, pad_id, device)
        logp = _shifted_logprobs(model, ids, mask)
        valid = mask[:, 1:].bool()
        nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
        total += nll[valid].sum().item()
        count += int(valid.sum())
    return total / max(count, 1)


@torch.no_grad()
def cross_entropy_and_drift(
    model, base_context: Callable[[], contextlib.AbstractContextManager], base_model, corpus, pad_id, batch_size,
    per_text: list | None = None,
) -> tuple[float, float]:
    """Tuned model's mean per-token CE and mean per-token KL(base || tuned) on the same tokens.

    The base distribution comes from `base_model` inside `base_context()`: for a PEFT model that is the
    same model with its adapter disabled; for full fine-tuning a separately loaded base model.
    `per_text` (if given) receives (summed cross-entropy, tokens) per text, in corpus order: what a
    paired bootstrap of forgetting between two runs resamples."""
    model.eval()
    ce_total, kl_total, count = 0.0, 0.0, 0
    device = next(model.parameters()).device
    for seqs in _batches(corpus, batch_size):
        ids, mask = _padded(seqs, pad_id, device)
        tuned = _shifted_logprobs(model, ids, mask)
        with base_context():
            base = _shifted_logprobs(base_model, ids, mask)
        valid = mask[:, 1:].bool()
        nll = -tuned.gather(-1, ids[:, 1:, None]).squeeze(-1)
        kl = (base.exp() * (base - tuned)).sum(-1)
        ce_total += nll[valid].sum().item()
        kl_total += kl[valid].sum().item()
        count += int(valid.sum())
        if per_text is not None:
            per_text.extend(zip(torch.where(valid, nll, 0.0).sum(1).tolist(), valid.sum(1).tolist()))
    return ce_total / max(count, 1), kl_total / max(count, 1)
