"""Scorers of a task file: numeric, exact match, regex, multiple choice, or a registered Python function.

A Python scorer is a function `(prediction, gold) -> Score | bool`, registered by name:

    from peftbench.tasks.from_file import scorer

    @scorer("within-one-percent")
    def close(prediction: str, gold: str) -> bool: ...

and named in the task file as `scorer: {type: python, name: within-one-percent, module: scorers.py}`
(`module`, relative to the task file, is imported first so its decorators run).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import string
import sys
from pathlib import Path
from typing import Callable

from peftbench.errors import UserError
from peftbench.tasks.base import Score
from peftbench.tasks.from_file.spec import NormalizeSpec, ScorerSpec
from peftbench.text.extract import score as numeric_score

ScoreFn = Callable[[str, str], Score]
_REGISTRY: dict[str, Callable[[str, str], "Score | bool"]] = {}
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def scorer(name: str):
    """Decorator: register `fn(prediction, gold) -> Score | bool` as the Python scorer `name`."""

    def register(fn):
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"scorer '{name}' is already registered (by {_REGISTRY[name].__module__})")
        _REGISTRY[name] = fn
        return fn

    return register


def registered_scorers() -> list[str]:
    return sorted(_REGISTRY)


def normalize(text: str, how: NormalizeSpec) -> str:
    if how.lowercase:
        text = text.lower()
    if how.strip_punctuation:
        text = text.translate(_PUNCTUATION)
    if how.strip_articles:
        text = _ARTICLES.sub(" ", text)
    if how.collapse_whitespace:
        text = " ".join(text.split())
    return text.strip()


def cut(prediction: str, stops: list[str]) -> str:
    """The prediction up to the first stop string (small models go on writing after their answer)."""
    end = len(prediction)
    for stop in stops:
        found = prediction.find(stop)
        if found != -1:
            end = min(end, found)
    return prediction[:end]


def _exact(spec: ScorerSpec) -> ScoreFn:
    def score(prediction: str, gold: str) -> Score:
        extracted = normalize(cut(prediction, spec.stops()), spec.normalize)
        return Score(extracted=extracted, correct=extracted == normalize(gold, spec.normalize))

    return score


def _regex(spec: ScorerSpec) -> ScoreFn:
    pattern = re.compile(spec.pattern)

    def score(prediction: str, gold: str) -> Score:
        found = pattern.search(cut(prediction, spec.stops()))
        if found is None:
            return Score(extracted=None, correct=False)
        answer = found.group(1) if pattern.groups else found.group(0)
        extracted = normalize(answer or "", spec.normalize)
        return Score(extracted=extracted, correct=extracted == normalize(gold, spec.normalize))

    return score


def _choice(spec: ScorerSpec) -> ScoreFn:
    # A label counts only standing alone ("B", "(B)", "B." - not the B in "Because").
    labels = sorted(spec.labels, key=len, reverse=True)
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, labels)) + r")(?![A-Za-z0-9])")

    def score(prediction: str, gold: str) -> Score:
        found = pattern.search(cut(prediction, spec.stops()))
        extracted = found.group(1) if found else None
        return Score(extracted=extracted, correct=extracted == gold)

    return score


def _numeric(spec: ScorerSpec) -> ScoreFn:
    stops = spec.stops()
    return lambda prediction, gold: numeric_score(cut(prediction, stops), gold)


def _python(spec: ScorerSpec, base: Path, where: str) -> ScoreFn:
    if spec.module is not None:
        import_module_file(base / spec.module, f"{where}: scorer.module")
    if spec.name not in _REGISTRY:
        known = ", ".join(registered_scorers()) or "none"
        raise UserError(f"{where}: scorer.name: no scorer registered as '{spec.name}' (registered: {known})")
    fn, stops = _REGISTRY[spec.name], spec.stops()

    def score(prediction: str, gold: str) -> Score:
        text = cut(prediction, stops)
        result = fn(text, gold)
        return result if isinstance(result, Score) else Score(extracted=text, correct=bool(result))

    return score


def build_scorer(spec: ScorerSpec, base: Path, where: str) -> ScoreFn:
    if spec.type == "python":
        return _python(spec, base, where)
    return {"numeric": _numeric, "exact": _exact, "regex": _regex, "choice": _choice}[spec.type](spec)


def import_module_file(path: Path, key: str) -> None:
    """Import a user's .py file once per path, so the scorers it registers exist."""
    if not path.is_file():
        raise UserError(f"{key}: file not found: {path}")
    if path.suffix != ".py":
        raise UserError(f"{key}: {path}: expected a Python file ending in .py")
    name = "peftbench_user_scorers_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise UserError(f"{key}: importing {path} failed: {type(err).__name__}: {err}") from None
