"""A text task's side of the pipeline: a causal LM, tokenised examples, generation-based accuracy on
the task's test sets, and forgetting and drift on a general-text sample (docs/design.md, "Metrics")."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Iterator

import torch

from peftbench.errors import UserError
from peftbench.metrics import BASE_CE, DRIFT, FORGETTING, TUNED_CE, sampled_metric, task_metric
from peftbench.pipeline.setup import BaseView
from peftbench.pipeline.state import RunState, Row
from peftbench.planning.config import TrainConfig
from peftbench.records.results import FORGETTING_SET
from peftbench.tasks.base import Batch, Example, Task
from peftbench.text.baseline import base_cross_entropy
from peftbench.text.data import encode_all, format_prompt, text_batches
from peftbench.text.evaluate import cross_entropy_and_drift, encode_corpus, generate_answers, score_answers
from peftbench.text.extract import EXTRACTOR_VERSION
from peftbench.text.lm_loss import causal_lm_loss
from peftbench.text.models import load_model

if TYPE_CHECKING:
    from peftbench.telemetry.progress import Reporter

CORPUS_BATCH_MAX = 8  # full-vocabulary log-probs are large; keep forgetting batches small


class TextRun:
    """The `pipeline.modality.Modality` of text tasks."""

    def __init__(self, run: RunState, task: Task, cfg: TrainConfig, reporter: Reporter, device: torch.device):
        self.run, self.reporter, self.device = run, reporter, device
        self.cfg, self.task, self.metric = cfg, task, run.plan.spec.metric
        self.tokenizer: Any = None  # a transformers tokenizer, from load()
        run.run_info_extra["extractor_version"] = EXTRACTOR_VERSION

    def load(self) -> torch.nn.Module:
        """The base model, the tokenised data, and the base model's cross-entropy on the forgetting
        sample (the "before" of forgetting; cached per model and sample)."""
        cfg, task, run = self.cfg, self.task, self.run
        model, self.tokenizer, run.model_info = load_model(cfg, self.device)
        run.tokenizer = self.tokenizer
        if not cfg.skip_training:
            self.train_data = encode_all(self.tokenizer, cfg.query_template, task.train_examples(cfg),
                                         cfg.max_seq_length, cfg.loss_on)
        self.eval_cfg = few_shot_config(cfg, task.train_examples(cfg)) if cfg.few_shot else cfg
        self.valid = task.valid_examples(cfg)
        self.test_sets = task.test_sets(cfg) if cfg.evaluate_test else []  # a trial never loads them
        texts, corpus_info = task.forgetting_texts(cfg)
        run.dataset_info_extra["forgetting"] = corpus_info
        self.corpus = encode_corpus(self.tokenizer, texts, cfg.data.forgetting_max_tokens)
        self.corpus_batch = min(cfg.batch_size_eval, CORPUS_BATCH_MAX)
        self.base_ce = base_cross_entropy(model, self.corpus, self.tokenizer.pad_token_id, self.corpus_batch,
                                          run.model_info, corpus_info, cfg)
        return model

    def load_base(self) -> torch.nn.Module:
        return load_model(self.cfg, self.device)[0]

    def batches(self) -> Iterator[Batch]:
        return text_batches(self.train_data, self.cfg.batch_size, self.cfg.seed, self.tokenizer.pad_token_id,
                            self.device)

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return causal_lm_loss(model, batch)

    def validate(self, model: torch.nn.Module, items: int | None = None) -> dict[str, float]:
        accuracy, _ = self._accuracy_on(model, self.valid[:items], task_metric("valid", self.metric))
        return {task_metric("valid", self.metric): accuracy}

    def test(self, model: torch.nn.Module) -> None:
        for test in self.test_sets:
            key = task_metric("test", self.metric, test.name)
            accuracy, rows = self._accuracy_on(model, test.examples, key)
            self.run.final[key] = accuracy
            if self.cfg.sampled is not None:
                rows = self._sampled(model, test.examples, test.name, rows)
            self.run.predictions += [{**row, "test_set": test.name or self.run.plan.task} for row in rows]

    def _sampled(self, model: torch.nn.Module, examples: list[Example], name: str, rows: list[Row]) -> list[Row]:
        """Sampled pass@k into the final row (text/sampled.py); each prediction row gains how many of its
        samples were right, so pass@k can be recomputed and paired per problem."""
        from peftbench.text.sampled import sample_answers, sampled_pass

        settings = self.cfg.sampled
        assert settings is not None  # the caller checked
        with self.reporter.task(f"{sampled_metric(max(settings.k), name)} ({settings.samples} samples)",
                                len(examples), keep=True) as advance:
            answers = sample_answers(model, self.tokenizer, self.eval_cfg, examples, progress=advance)
        means, right = sampled_pass(examples, answers, self.task.score, settings.k)
        self.run.final.update({sampled_metric(k, name): value for k, value in means.items()})
        return [{**row, "samples": settings.samples, "samples_correct": c} for row, c in zip(rows, right)]

    def compare_with_base(self, model: torch.nn.Module, base: BaseView) -> None:
        per_text: list[tuple[float, int]] = []
        with self.reporter.status("forgetting and drift"):
            tuned_ce, drift = cross_entropy_and_drift(model, base.active, base.model, self.corpus,
                                                      self.tokenizer.pad_token_id, self.corpus_batch, per_text)
        self.run.final.update({FORGETTING.key: tuned_ce - self.base_ce, DRIFT.key: drift,
                               BASE_CE.key: self.base_ce, TUNED_CE.key: tuned_ce})
        # Per-text rows in the sidecar: the paired bootstrap of forgetting between two runs resamples them.
        self.run.predictions += [{"id": f"forgetting-{i}", "test_set": FORGETTING_SET, "nll": nll, "tokens": tokens}
                                 for i, (nll, tokens) in enumerate(per_text)]

    def afterwards(self, model: torch.nn.Module, base: BaseView) -> None:
        """What fine-tuning costs afterwards: instruction following and lm-eval tasks against the base
        model (a baseline row measures the base itself), and, for a trained model, its generation speed."""
        from peftbench.afterwards import lm_eval_tasks, overhead, retention

        final, info, rows = retention.instruction_following(model, base, self.tokenizer, self.cfg,
                                                            self.run.model_info, self.reporter)
        lm_eval = lm_eval_tasks.retention(model, base, self.tokenizer, self.cfg, self.reporter)
        self.run.final.update(final)
        self.run.predictions += rows
        self.run.retention = {k: v for k, v in (("instructions", info), ("lm_eval", lm_eval)) if v}
        if not self.cfg.skip_training:
            final, self.run.inference = overhead.measure(model, base, self.tokenizer, self.cfg, self.reporter)
            self.run.final.update(final)

    def _accuracy_on(self, model: torch.nn.Module, examples: list[Example], label: str) -> tuple[float, list[Row]]:
        cfg = self.eval_cfg
        with self.reporter.task(label, len(examples), keep=not label.startswith("valid")) as advance:
            answers = generate_answers(model, self.tokenizer, cfg, examples, progress=advance)
        return score_answers(examples, answers, self.task.score, lambda q: format_prompt(cfg.query_template, q))


def few_shot_config(cfg: TrainConfig, pool: list[Example]) -> TrainConfig:
    """`cfg` whose prompt starts with `cfg.few_shot` solved examples of `pool` (drawn with the run's seed),
    each written as training writes it: prompt, a space, the worked solution."""
    if cfg.few_shot > len(pool):
        raise UserError(f"few_shot={cfg.few_shot}: only {len(pool)} training examples to draw from")
    shots = random.Random(f"few-shot-{cfg.seed}").sample(pool, cfg.few_shot)
    prefix = "".join(f"{format_prompt(cfg.query_template, ex.question)} {ex.target}\n\n" for ex in shots)
    escaped = prefix.replace("{", "{{").replace("}", "}}")  # the template is filled with str.format
    return cfg.model_copy(update={"query_template": escaped + cfg.query_template})
