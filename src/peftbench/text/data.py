"""Tokenised training data and length-bucketed, shuffled batches."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Iterator

import torch

from peftbench.system.folders import cache_dir
from peftbench.records.results import atomic_write_json
from peftbench.tasks.base import Batch, Example

# Bump when encode_example changes what it produces, so old cache entries are not reused.
ENCODING_VERSION = "1"

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


def format_prompt(template: str, question: str) -> str:
    return template.format(query=question)


def encode_example(tokenizer, template: str, example: Example, max_len: int, loss_on: str) -> Encoded:
    """Prompt + " " + target + EOS, so the model learns to stop. With loss_on="answer" the prompt is
    masked out of the loss; "all" trains on the whole sequence as the reference suite does."""
    prompt = tokenizer(format_prompt(template, example.question))["input_ids"]
    answer = tokenizer(" " + example.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (prompt + answer)[:max_len]
    if loss_on == "answer":
        labels = ([IGNORE_INDEX] * len(prompt) + answer)[:max_len]
    else:
        labels = list(ids)
    return Encoded(ids, labels)


def encode_all(tokenizer, template: str, examples: list[Example], max_len: int, loss_on: str) -> list[Encoded]:
    """Tokenised training data, cached on disk by content: every run of a sweep on the same task,
    model and template reuses the first one's (seconds per run on CPU for a few thousand examples)."""
    path = cache_dir() / "tokenised" / f"{_encoding_key(tokenizer, template, examples, max_len, loss_on)}.json"
    try:
        return [Encoded(ids, labels) for ids, labels in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        pass  # not cached yet, or damaged: recompute, never trust
    encoded = [encode_example(tokenizer, template, ex, max_len, loss_on) for ex in examples]
    atomic_write_json(path, [[e.input_ids, e.labels] for e in encoded])
    return encoded


def _encoding_key(tokenizer, template: str, examples: list[Example], max_len: int, loss_on: str) -> str:
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)  # a fast tokenizer's full definition
    if backend is not None:
        # Without its truncation/padding state, which each call may set differently (same vocabulary).
        definition = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        fingerprint = json.dumps(definition, sort_keys=True)
    else:
        fingerprint = f"{tokenizer.name_or_path}:{len(tokenizer)}"
    for part in (ENCODING_VERSION, fingerprint, str(tokenizer.eos_token_id), template, str(max_len), loss_on):
        digest.update(part.encode() + b"\0")
    for ex in examples:
        digest.update(f"{ex.question}\0{ex.target}\0".encode())
    return digest.hexdigest()[:24]


def bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random, pool: int = 64):
    """One epoch of batches: shuffle, sort within pools of `pool` batches so each batch holds
    similar lengths (little padding), then shuffle the batch order so lengths don't trend."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * pool
    batches = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [block[i : i + batch_size] for i in range(0, len(block), batch_size)]
    rng.shuffle(batches)
    return batches


def endless_batches(lengths: list[int], batch_size: int, seed: int):
    """Batches forever, a new shuffle every epoch, deterministic from the seed."""
    if not lengths:
        raise ValueError("no training examples")
    rng = random.Random(seed)
    while True:
        yield from bucketed_batches(lengths, batch_size, rng)


def collate(items: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a training batch; padding is masked from attention and loss."""
    width = max(len(it.input_ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it.input_ids)
        ids[row, :n] = torch.tensor(it.input_ids)
        labels[row, :n] = torch.tensor(it.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def text_batches(data: list[Encoded], batch_size: int, seed: int, pad_id: int, device: torch.device) -> Iterator[Batch]:
    """Endless padded batches of a text task, length-bucketed, in an order fixed by `seed`."""
    lengths = [len(ex.input_ids) for ex in data]
    for indices in endless_batches(lengths, batch_size, seed):
        items = [data[i] for i in indices]
        inputs = {k: v.to(device) for k, v in collate(items, pad_id).items()}
        yield Batch(inputs, samples=len(items), tokens=sum(len(it.input_ids) for it in items))
