"""Retention, measured after a text run's test pass: the tuned model and the base model answer the same
instruction prompts (and any lm-eval tasks the config names); the record gets the tuned pass rate, the
base's, and their difference, and the sidecar one row per prompt, so the report pairs them per item.

The base model's answers are the same for every run on that model: they are computed once and cached
(like the base cross-entropy of forgetting), keyed by the model, the prompts' version and size, and the
decoding settings. A measurement that cannot be made (the extra is missing, the Hub is unreachable)
leaves "not measured: <why>" in `train_info.retention`, never a number.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

from filelock import FileLock

from peftbench.analysis.verdicts import INSTRUCTIONS_SET
from peftbench.planning.config import GenerationConfig
from peftbench.errors import UserError
from peftbench.system.folders import cache_dir
from peftbench.metrics import BASE_INSTRUCTIONS, INSTRUCTIONS, INSTRUCTIONS_DELTA
from peftbench.records.results import atomic_write_json
from peftbench.tasks.base import Example
from peftbench.text.evaluate import generate_answers



def chat_prompt(tokenizer, text: str) -> str:
    """`text` as the user's message in the model's chat template (as it is, without one)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return text


def _generation_config(cfg, texts: list[str], tokenizer, max_new_tokens: int):
    longest = max((len(tokenizer(t)["input_ids"]) for t in texts), default=1)
    return cfg.model_copy(update={"query_template": "{query}", "few_shot": 0,
                                  "generation_kwargs": GenerationConfig(max_new_tokens=max_new_tokens,
                                                                        max_length=longest + max_new_tokens)})


def answer(model, tokenizer, cfg, texts: list[str], max_new_tokens: int, progress=None) -> list[str]:
    """Greedy responses to chat-formatted `texts`, in order."""
    examples = [Example(str(i), text, "", "") for i, text in enumerate(texts)]
    return generate_answers(model, tokenizer, _generation_config(cfg, texts, tokenizer, max_new_tokens), examples,
                            progress=progress)


def _base_key(model_info: dict, cfg, version: int, size: int, max_new_tokens: int) -> str:
    ident = {"model": model_info, "version": version, "size": size, "max_new_tokens": max_new_tokens,
             "dtype": cfg.dtype, "quantization": cfg.quantization, "batch": cfg.batch_size_eval}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def base_responses(compute, model_info: dict, cfg, version: int, size: int, max_new_tokens: int) -> list[str]:
    """The base model's responses, from the cache or `compute()` (then cached); concurrent runs of a
    sweep wait for the first one's instead of each generating their own."""
    path = cache_dir() / "retention" / f"instructions-{_base_key(model_info, cfg, version, size, max_new_tokens)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock"))):
        if path.exists():
            try:
                found = json.loads(path.read_text())["responses"]
                if isinstance(found, list) and len(found) == size:
                    return found
            except (ValueError, KeyError, TypeError):
                pass  # a damaged entry is recomputed, never trusted
        responses = compute()
        atomic_write_json(path, {"responses": responses, "model": model_info, "version": version})
    return responses


def interval(diffs: list[float]) -> tuple[float, float]:
    """95% normal interval of a mean of paired per-item differences (n of several hundred)."""
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else math.nan
    half = 1.959963984540054 * math.sqrt(var / n) if n > 1 else math.nan
    return mean - half, mean + half


def instruction_following(model, base, tokenizer, cfg, model_info: dict, reporter) -> tuple[dict, dict, list[dict]]:
    """(final-row figures, train_info.retention entry, sidecar rows) for the instruction prompts."""
    from peftbench.afterwards import instructions

    settings = cfg.retention.instructions
    if settings.size == 0:
        return {}, {}, []
    try:
        items = instructions.prompts(settings.size)
    except UserError as err:  # the [retention] extra is missing: the run goes on without this figure
        return {}, {"status": f"not measured: {err}"}, []
    texts = [chat_prompt(tokenizer, p.text) for p in items]
    started = time.perf_counter()
    with reporter.task(INSTRUCTIONS.key, len(texts), keep=True) as advance:
        tuned = answer(model, tokenizer, cfg, texts, settings.max_new_tokens, advance)

    def of_base() -> list[str]:
        with base.active(), reporter.task("instruction following, base model", len(texts), keep=True) as advance:
            return answer(base.model, tokenizer, cfg, texts, settings.max_new_tokens, advance)

    before = base_responses(of_base, model_info, cfg, instructions.VERSION, settings.size, settings.max_new_tokens)
    tuned_ok = [instructions.passes(p, r) for p, r in zip(items, tuned)]
    base_ok = [instructions.passes(p, r) for p, r in zip(items, before)]
    low, high = interval([float(a) - float(b) for a, b in zip(tuned_ok, base_ok)])
    final = {INSTRUCTIONS.key: sum(tuned_ok) / len(items), BASE_INSTRUCTIONS.key: sum(base_ok) / len(items),
             INSTRUCTIONS_DELTA.key: (sum(tuned_ok) - sum(base_ok)) / len(items)}
    info = {"status": "measured", "version": instructions.VERSION, "size": settings.size,
            "max_new_tokens": settings.max_new_tokens, "delta_ci95": [low, high],
            "checks": "IFEval instruction classes (if-verifiable), strict",
            "seconds": time.perf_counter() - started}  # what measuring added to the run (base answers cached)
    rows = [{"id": p.id, "test_set": INSTRUCTIONS_SET, "instruction": p.instruction, "correct": int(ok),
             "base_correct": int(was), "response": r}
            for p, r, ok, was in zip(items, tuned, tuned_ok, base_ok)]
    return final, info, rows
