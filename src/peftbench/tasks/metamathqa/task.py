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


class MetaMathQA:
    def train_examples(self, cfg) -> list[Example]:
        rows = load_rows(_source(cfg, "train"), "train", cfg.data.train_size)
        return [metamath_example(r, i) for i, r in enumerate(rows)]

    def valid_examples(self, cfg) -> list[Example]:
        rows = load_rows(_source(cfg, "valid"), "train")
        # A fixed sample (seed independent of the run's seed) so every run validates on the same rows.
        picked = random.Random(0).sample(range(len(rows)), min(cfg.data.valid_size, len(rows)))
        return [gsm8k.parse_row(rows[i], i, prefix="gsm8k-train") for i in picked]

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

