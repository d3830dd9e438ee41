"""`metamathqa`: the full-scale profile of the reference suite (GPU + Hub by default).

Train on MetaMathQA, validate on a fixed random sample of 50 GSM8K train rows, test on the GSM8K test
set, forgetting on the first 100 finewiki documents; loss over the whole sequence, as the reference
computes it. Every source can point at a local JSON/JSONL file instead (`data.sources`).
"""

from __future__ import annotations

import hashlib
import random

from peftbench.errors import UserError
from peftbench.extract import EXTRACTOR_VERSION, extract_answer, score
from peftbench.tasks import gsm8k
from peftbench.tasks.base import Example, Score, TestSet, register
from peftbench.tasks.sources import load_rows, source_info

SOURCES = {
    "train": "meta-math/MetaMathQA",
    "valid": "openai/gsm8k:main",
    "test": "openai/gsm8k:main",
    "forgetting": "HuggingFaceFW/finewiki:en",
}

DEFAULTS = {
    "model_id": "meta-llama/Llama-3.2-3B",
    "dtype": "bfloat16",
    "max_seq_length": 768,
    "batch_size": 4,
    "batch_size_eval": 50,
    "max_steps": 5000,
    "eval_steps": 250,
    "optimizer_type": "AdamW",
    "optimizer_kwargs": {"lr": 1e-4, "weight_decay": 0.1},
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.0,
    "grad_norm_clip": 1.0,
    "loss_on": "all",
    "query_template": "Question: {query} Think step by step.\nAnswer:",
    "generation_kwargs": {"max_new_tokens": 300, "max_length": 800},
    "data": {
        "train_size": None,
        "valid_size": 50,
        "test_size": None,
        "gsm8k_test_size": 0,
        "forgetting_size": 100,
        "forgetting_max_tokens": 768,
        "sources": SOURCES,
    },
}


def _source(cfg, split: str) -> str:
    unknown = set(cfg.data.sources) - set(SOURCES)
    if unknown:
        raise UserError(f"data.sources: unknown split '{sorted(unknown)[0]}' (expected {', '.join(SOURCES)})")
    return cfg.data.sources.get(split, SOURCES[split])


def metamath_example(row: dict, idx: int) -> Example:
    gold = extract_answer(row["response"])
    return Example(id=f"metamath-{idx}", question=row["query"], target=row["response"], gold=gold or "")


class MetaMathQA:
    name = "metamathqa"
    metric = "accuracy"

    def default_params(self) -> dict:
        return DEFAULTS

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


register("metamathqa", MetaMathQA)
