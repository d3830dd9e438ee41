"""FileTask: a text task (tasks/base.py's Task protocol) declared by a YAML file instead of Python.

Its kind ("text"), main metric ("accuracy"), config model (`TrainConfig`) and defaults live in the
registry's `TaskSpec` like any task's (`registration.py` builds it); the object here supplies data and
scoring."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from peftbench.planning.config import TrainConfig, build_config, deep_merge
from peftbench.tasks.base import Example, Score, TestSet
from peftbench.tasks.common import corpora
from peftbench.tasks.from_file import sources
from peftbench.tasks.from_file.render import Renderer, chat_renderer
from peftbench.tasks.from_file.scorers import build_scorer
from peftbench.tasks.from_file.settings import TEXT_DEFAULTS
from peftbench.tasks.from_file.spec import TaskFileSpec, read_spec
from peftbench.text.extract import EXTRACTOR_VERSION


def default_name(path: Path) -> str:
    """`my-task/task.yaml` -> "my-task"; `my-task.yaml` -> "my-task"."""
    return path.resolve().parent.name if path.stem == "task" else path.stem


class FileTask:
    def __init__(self, path: Path, spec: TaskFileSpec):
        self.path, self.spec = path, spec
        self.base = path.resolve().parent
        self.where = str(path)
        self.name = spec.name or default_name(path)
        self.renderer = Renderer(spec, self.name, self.where)
        self._score = build_scorer(spec.scorer, self.base, self.where)
        self._splits: dict | None = None
        self._identity: dict | None = None
        self._chat: dict[str, object] = {}  # model id -> chat renderer (its tokenizer loaded once)
        self.defaults = deep_merge(TEXT_DEFAULTS, spec.training)  # the training defaults of its TaskSpec

    # --- the Task protocol -------------------------------------------------------------------------
    def train_examples(self, cfg) -> list[Example]:
        return self._examples("train", cfg, cfg.data.train_size)

    def valid_examples(self, cfg) -> list[Example]:
        return self._examples("valid", cfg, cfg.data.valid_size)

    def test_sets(self, cfg) -> list[TestSet]:
        return [TestSet("", self._examples("test", cfg, cfg.data.test_size))]

    def forgetting_texts(self, cfg) -> tuple[list[str], dict]:
        corpus = self.spec.forgetting
        if corpus is None:
            return corpora.pydoc_topics(cfg.data.forgetting_size)
        texts = sources.load_corpus(corpus, self.base, cfg.data.forgetting_size, self.where)
        digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()
        return texts, {"source": sources.source_identity(corpus, self.base), "n_texts": len(texts), "sha256": digest}

    def score(self, prediction: str, gold: str) -> Score:
        return self._score(prediction, gold)

    def dataset_info(self, cfg) -> dict:
        splits = self.splits()
        info = {
            "task_file": str(self.path.resolve()),
            "task_file_sha256": sources.file_digest(str(self.path)),
            "fingerprint": self.fingerprint(),
            "source": self.identity(),
            "split_rule": None if self.spec.data.split is None else self.spec.data.split.model_dump(),
            "rows": {name: len(ds) for name, ds in splits.items()},
            "used": {"train": _used(len(splits["train"]), cfg.data.train_size),
                     "valid": _used(len(splits["valid"]), cfg.data.valid_size),
                     "test": _used(len(splits["test"]), cfg.data.test_size)},
            "scorer": self.spec.scorer.model_dump(exclude_defaults=True),
            "chat_template": self.spec.prompt.chat_template,
        }
        if self.spec.scorer.type == "numeric":
            info["extractor_version"] = EXTRACTOR_VERSION
        return info

    # --- helpers -----------------------------------------------------------------------------------
    def splits(self) -> dict:
        """train/valid/test (datasets.Dataset), loaded once and checked against the templates."""
        if self._splits is None:
            splits = sources.load_splits(self.spec.data, self.base, self.where)
            for name, ds in splits.items():
                self.renderer.check_columns(name, ds.column_names)
            self._splits = splits
        return self._splits

    def identity(self) -> dict:
        """The data's identity (file hashes or dataset revision), computed once: hashing big files is slow."""
        if self._identity is None:
            self._identity = sources.source_identity(self.spec.data, self.base)
        return self._identity

    def fingerprint(self) -> str:
        """Hash of what decides the data a run sees: the validated task file and the data's identity.
        Meant for the config hash, so an edited task file or data file is not mistaken for a finished run."""
        payload = {"spec": self.spec.model_dump(mode="json"), "data": _portable(self.identity())}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def _examples(self, split: str, cfg, size: int | None) -> list[Example]:
        ds = self.splits()[split]
        if size is not None:
            ds = ds.select(range(min(size, len(ds))))
        chat = self._chat_for(cfg.model_id)
        return [self.renderer.example(row, split, i, chat) for i, row in enumerate(ds)]

    def _chat_for(self, model_id: str):
        """The chat-template renderer of `model_id`'s tokenizer, or None for a plain template."""
        if not self.spec.prompt.chat_template:
            return None
        if model_id not in self._chat:
            from peftbench.text.models import load_tokenizer, resolve_model

            self._chat[model_id] = chat_renderer(load_tokenizer(resolve_model(model_id)[0]), model_id, self.where)
        return self._chat[model_id]


def _portable(value):
    """The identity without absolute paths (the content hashes stay): moving the project keeps the hash."""
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items() if k not in ("path", "local_path")}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    return value


def _used(available: int, cap: int | None) -> int:
    return available if cap is None else min(cap, available)


def load_task_file(path: Path | str, load_data: bool = True) -> FileTask:
    """The task a task file declares, checked as far as it can be before a run.

    Each mistake is a UserError naming the file and key: the YAML, the training defaults against
    `TrainConfig`, the scorer, and (with `load_data`) the data itself: files, splits, and every column
    the templates use."""
    path = Path(path)
    task = FileTask(path, read_spec(path))
    build_config(task.defaults, {}, f"{path}: training", TrainConfig)
    if load_data:
        task.splits()
    return task
