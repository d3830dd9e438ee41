"""The task file: its YAML schema (pydantic) and reading it with one-line errors that name file and key.

Vocabulary, in short (docs/tasks-from-files.md has the full manual):

    name: unit-conversion            # results go to results/<name>/; default: the folder or file name
    data:                            # either local/remote files ...
      files: {train: train.jsonl, valid: valid.jsonl, test: test.jsonl}
      # ... or a Hub dataset (or a local dataset folder) with config, revision and split names
      # dataset: owner/name, config: main, revision: <sha>, splits: {train: train, test: test}
      split: {valid: 0.1, test: 100, seed: 0}   # carve missing splits out of train
    columns: {question: input}       # template name -> column of the data
    prompt: "Question: {question}\\nAnswer:"   # or {template: ..., chat_template: true, system: ...}
    target: "{solution} The answer is {answer}."
    gold: "{answer}"
    scorer: numeric                  # or {type: exact|regex|choice|python, ...}
    forgetting: pydoc                # or {files: corpus.jsonl, column: text} or {dataset: ..., split: ...}
    training: {max_steps: 100}       # defaults, deep-merged over the text defaults
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from peftbench.planning.config import Strict
from peftbench.errors import UserError

SPLITS = ("train", "valid", "test")
Split = Literal["train", "valid", "test"]
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ -]*$")


def placeholders(template: str) -> list[str]:
    """The `{name}` fields of a template; ValueError for positional, attribute or index fields, which
    a column map cannot fill."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"malformed template ({err}); write literal braces as {{{{ and }}}}") from None
    for _, field, _, _ in parsed:
        if field is None:
            continue
        if not _IDENTIFIER.match(field):
            raise ValueError(f"placeholder {{{field}}} must be a column name such as {{question}}")
        names.append(field)
    return names


def format_of(paths: list[str], explicit: str | None) -> str:
    """The `datasets` builder for data files: `explicit`, else the one their extensions agree on."""
    if explicit:
        return explicit
    kinds = {FORMATS.get(Path(p.split("?")[0]).suffix.lower()) for p in paths}
    if None in kinds or len(kinds) != 1:
        raise ValueError(f"cannot tell one format from {', '.join(paths)}: use the extensions "
                         f"{', '.join(FORMATS)} or set 'format'")
    return kinds.pop()


def _template(value: str) -> str:
    placeholders(value)
    return value


class SplitRule(Strict):
    """Carve valid/test out of train: a row count (int) or a fraction of train (0 < f < 1)."""

    valid: int | float | None = None
    test: int | float | None = None
    seed: int = Field(default=0, ge=0, description="the shuffle that assigns rows to splits; fixed, not the run's seed")

    @field_validator("valid", "test")
    @classmethod
    def _size(cls, value):
        if value is None:
            return value
        if isinstance(value, bool) or (isinstance(value, float) and not 0 < value < 1) or (isinstance(value, int) and value < 1):
            raise ValueError("expected a row count >= 1 or a fraction between 0 and 1")
        return value


class DataSpec(Strict):
    files: str | list[str] | dict[Split, str | list[str]] | None = Field(
        default=None, description="local paths (relative to the task file) or http(s) URLs; one format")
    format: Literal["json", "csv", "parquet"] | None = Field(default=None, description="default: from the extension")
    dataset: str | None = Field(default=None, description="Hub dataset id, or a local dataset folder")
    config: str | None = None
    revision: str | None = Field(default=None, description="branch, tag or commit of the Hub dataset")
    splits: dict[Split, str] | None = Field(default=None, description="our split -> the dataset's split name")
    split: SplitRule | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.files is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'files' or 'dataset'")
        if self.files is not None and (self.config or self.revision or self.splits):
            raise ValueError("'config', 'revision' and 'splits' go with 'dataset', not 'files'")
        if self.dataset is not None and self.format:
            raise ValueError("'format' goes with 'files', not 'dataset'")
        if self.files is not None:
            self.file_format()
        given = set(self.source_splits())
        if "train" not in given:
            raise ValueError("no train split: name it in 'files' (or 'splits' for a dataset)")
        carved = {s for s in ("valid", "test") if self.split is not None and getattr(self.split, s) is not None}
        for name in ("valid", "test"):
            if name in given and name in carved:
                raise ValueError(f"split '{name}' is both given and carved by 'split'; drop one")
            if name not in given and name not in carved:
                raise ValueError(f"no {name} split: give one or carve it with 'split: {{{name}: <rows or fraction>}}'")
        return self

    def source_splits(self) -> dict[str, Any]:
        """Our split name -> what the source calls it (file list, or the dataset's split name)."""
        if self.dataset is not None:
            return dict(self.splits or {"train": "train"})
        if isinstance(self.files, dict):
            return {k: (v if isinstance(v, list) else [v]) for k, v in self.files.items()}
        return {"train": self.files if isinstance(self.files, list) else [self.files]}

    def file_format(self) -> str:
        return format_of([p for files in self.source_splits().values() for p in files], self.format)


class PromptSpec(Strict):
    template: str = Field(description="the prompt, or the user message when chat_template is true")
    chat_template: bool = Field(default=False, description="wrap the prompt in the model's own chat template")
    system: str | None = Field(default=None, description="system message (chat_template only)")

    @field_validator("template", "system")
    @classmethod
    def _templates(cls, value):
        return value if value is None else _template(value)

    @model_validator(mode="after")
    def _system_needs_chat(self):
        if self.system is not None and not self.chat_template:
            raise ValueError("'system' needs 'chat_template: true'")
        return self


class NormalizeSpec(Strict):
    """How predictions and gold answers are compared by the text scorers (exact, regex)."""

    lowercase: bool = True
    strip_punctuation: bool = True
    collapse_whitespace: bool = True
    strip_articles: bool = False


class ScorerSpec(Strict):
    type: Literal["numeric", "exact", "regex", "choice", "python"]
    stop: list[str] | None = Field(default=None, description="cut the prediction at the first of these; "
                                   "default: first newline, except numeric with a worked-solution target (its "
                                   "extractor finds the answer in the solution)")
    normalize: NormalizeSpec = Field(default_factory=NormalizeSpec)
    pattern: str | None = Field(default=None, description="regex: group 1 (or the match) is the answer")
    choices: str | None = Field(default=None, description="choice: the column holding the list of options")
    answer: str | None = Field(default=None, description="choice: the column with the right option (index, label or text)")
    labels: list[str] = Field(default_factory=lambda: list("ABCDEFGHIJ"), min_length=2)
    name: str | None = Field(default=None, description="python: a scorer registered with @peftbench.tasks.from_file.scorer")
    module: str | None = Field(default=None, description="python: a .py file (relative to the task file) that registers it")

    @model_validator(mode="after")
    def _options_fit_type(self):
        needed = {"regex": ("pattern",), "choice": ("choices", "answer"), "python": ("name",)}
        allowed = {"regex": {"pattern"}, "choice": {"choices", "answer"}, "python": {"name", "module"}}
        for key in needed.get(self.type, ()):
            if getattr(self, key) is None:
                raise ValueError(f"'{key}' is required for scorer type {self.type}")
        for key in ("pattern", "choices", "answer", "name", "module"):
            if getattr(self, key) is not None and key not in allowed.get(self.type, set()):
                raise ValueError(f"'{key}' does not apply to scorer type {self.type}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"pattern is not a valid regular expression: {err}") from None
        return self

    def stops(self) -> list[str]:
        if self.stop is not None:
            return self.stop
        return [] if self.type == "numeric" else ["\n"]


class CorpusSpec(Strict):
    """General text for forgetting and drift: a local/remote file or a dataset split, one text per row."""

    files: str | list[str] | None = None
    format: Literal["json", "csv", "parquet"] | None = None
    dataset: str | None = None
    config: str | None = None
    revision: str | None = None
    split: str = "train"
    column: str = "text"

    @model_validator(mode="after")
    def _one_source(self):
        if (self.files is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'files' or 'dataset' (or write 'forgetting: pydoc')")
        if self.files is not None:
            format_of(self.files if isinstance(self.files, list) else [self.files], self.format)
        return self


class TaskFileSpec(Strict):
    """A task file as written: what `read_spec` validates (the registry's `TaskSpec` is built from it)."""

    name: str | None = Field(default=None, description="task name; default: the task file's folder (task.yaml) or stem")
    description: str | None = None
    data: DataSpec
    columns: dict[str, str] = Field(default_factory=dict, description="name used in templates -> column in the data")
    prompt: PromptSpec
    target: str | None = Field(default=None, description="what the model learns to write; default: the gold answer")
    gold: str | None = Field(default=None, description="the answer the scorer compares with; default: the target")
    scorer: ScorerSpec
    forgetting: CorpusSpec | None = Field(default=None, description="None or 'pydoc': CPython's pydoc topics")
    training: dict[str, Any] = Field(default_factory=dict, description="defaults, deep-merged over the text defaults")

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt_shorthand(cls, value):
        return {"template": value} if isinstance(value, str) else value

    @field_validator("forgetting", mode="before")
    @classmethod
    def _pydoc(cls, value):
        if isinstance(value, str):
            if value != "pydoc":
                raise ValueError("expected 'pydoc' or a mapping with 'files' or 'dataset'")
            return None
        return value

    @field_validator("scorer", mode="before")
    @classmethod
    def _scorer_shorthand(cls, value):
        return {"type": value} if isinstance(value, str) else value

    @field_validator("target", "gold")
    @classmethod
    def _templates(cls, value):
        return value if value is None else _template(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        if value is not None and not _NAME.match(value):
            raise ValueError("must be letters, digits, '.', '_' or '-' (it names the results folder)")
        return value

    @field_validator("training")
    @classmethod
    def _no_query_template(cls, value):
        if "query_template" in value:
            raise ValueError("the prompt is set by 'prompt', not 'query_template'")
        return value

    @model_validator(mode="after")
    def _short_answer_stop(self):
        """A numeric task whose target is the answer alone (no worked solution) is a one-line answer: cut
        at the first newline, as the other scorers do, or a small model's 60 tokens of "1000000..." after
        it would be read as its answer."""
        if self.scorer.type == "numeric" and self.scorer.stop is None and self.target is not None \
                and self.gold is not None and self.target.strip() == self.gold.strip():
            object.__setattr__(self, "scorer", self.scorer.model_copy(update={"stop": ["\n"]}))
        if self.scorer.type == "numeric" and self.scorer.stop is None and self.target is None:
            object.__setattr__(self, "scorer", self.scorer.model_copy(update={"stop": ["\n"]}))
        return self

    @model_validator(mode="after")
    def _answers(self):
        if self.scorer.type == "choice":
            if self.gold is not None:
                raise ValueError("scorer type choice computes the gold label from 'answer'; drop 'gold'")
        elif self.target is None and self.gold is None:
            raise ValueError("give 'target' (what the model learns to write) and/or 'gold' (the answer scored)")
        return self


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors' aliases: nine nested levels of `*a` references expand to billions of nodes
    when validated, and a task file is meant to be shared. Nothing a task file says needs them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"found the alias *{event.anchor}: task files do not "
                                              "take YAML anchors and aliases; write the value out", event.start_mark)
        return super().compose_node(parent, index)


def read_spec(path: Path) -> TaskFileSpec:
    """Parse and validate a task file; every mistake is one UserError naming the file and key."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliases)  # noqa: S506 (a SafeLoader)
    except FileNotFoundError:
        raise UserError(f"{path}: task file not found") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte {err.start}: 0x{err.object[err.start:err.start + 1].hex()})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read the task file ({err.strerror})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise UserError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys (data, prompt, scorer, ...), got {type(raw).__name__}")
    try:
        return TaskFileSpec.model_validate(raw)
    except ValidationError as err:
        raise UserError(f"{path}: {describe_error(err, raw)}") from None


def _key_parts(loc: tuple) -> list:
    # Union members add their type to the location ('str', 'list[str]', '[key]'): not keys the user wrote.
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "bool")))]


def describe_error(err: ValidationError, raw: Any) -> str:
    """The first error as `key: what was wrong`, with the offending value where there is one. Of a
    union's alternatives, the one that got furthest into the value is the one the user meant."""
    errors = err.errors()
    prefix = _key_parts(errors[0]["loc"])
    same = [e for e in errors if _key_parts(e["loc"])[: len(prefix)] == prefix]
    first = max(same, key=lambda e: len(_key_parts(e["loc"])))
    loc = _key_parts(first["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if first["type"] == "missing":
        return f"missing key '{key}'"
    value = first.get("input") if first["type"] == "literal_error" else _lookup(raw, loc)
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return f"{key}: {message}{shown}"


def _lookup(data: Any, loc: list) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data
