"""metamathqa's data: MetaMathQA rows, GSM8K validation/test rows, finewiki for forgetting."""

from __future__ import annotations

import hashlib
import random

from peftbench.tasks.base import Example, Score, TestSet
from peftbench.tasks.common import gsm8k
from peftbench.tasks.common.sources import load_rows, source_info
from peftbench.tasks.metamathqa import SOURCES
from peftbench.text.extract import EXTRACTOR_VERSION, extract_answer, score


def _source(cfg, split: str) -> str:
    return cfg.data.sources.get(split, SOURCES[split])


def metamath_example(row: dict, idx: int) -> Example:
    gold = extract_answer(row["response"])
    return Example(id=f"metamath-{idx}", question=row["query"], target=row["response"], gold=gold or "")


def train_example(row: dict, idx: int) -> Example:
    """A training row of either kind: MetaMathQA's (query, response) or GSM8K's (question, answer), which
    metamathqa-rl trains on as the reference's RL track does."""
    return metamath_example(row, idx) if "query" in row else gsm8k.parse_row(row, idx, prefix="gsm8k-train")


def valid_picks(n_rows: int, valid_size: int) -> list[int]:
    """The validation rows of GSM8K's training split: a fixed sample (seed independent of the run's seed)
    so every run validates on the same rows."""
    return random.Random(0).sample(range(n_rows), min(valid_size, n_rows))


class MetaMathQA:
    def train_examples(self, cfg) -> list[Example]:
        source = _source(cfg, "train")
        if source != _source(cfg, "valid"):
            rows = load_rows(source, "train", cfg.data.train_size)
            return [train_example(r, i) for i, r in enumerate(rows)]
        # Training on the split validation samples from: its validation rows never train.
        rows = load_rows(source, "train")
        held_out = set(valid_picks(len(rows), cfg.data.valid_size))
        kept = [i for i in range(len(rows)) if i not in held_out][: cfg.data.train_size]
        return [train_example(rows[i], i) for i in kept]

    def valid_examples(self, cfg) -> list[Example]:
        rows = load_rows(_source(cfg, "valid"), "train")
        return [gsm8k.parse_row(rows[i], i, prefix="gsm8k-train") for i in valid_picks(len(rows), cfg.data.valid_size)]

    def test_sets(self, cfg) -> list[TestSet]:
        rows = load_rows(_source(cfg, "test"), "test", cfg.data.test_size)
        return [TestSet("", [gsm8k.parse_row(r, i) for i, r in enumerate(rows)])]

    def forgetting_texts(self, cfg) -> tuple[list[str], dict]:
        source = _source(cfg, "forgetting")
        texts = [r["text"] for r in load_rows(source, "train", cfg.data.forgetting_size, streaming=True)]
        digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()
        return texts, {"source": source, "n_texts": len(texts), "sha256": digest}

    def score(self, prediction: str, gold: str) -> Score:
        return score(prediction, gold)

    def dataset_info(self, cfg) -> dict:
        info = {split: source_info(_source(cfg, split)) for split in SOURCES}
        info["extractor_version"] = EXTRACTOR_VERSION
        return info

