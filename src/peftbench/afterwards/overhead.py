"""Inference overhead: how much slower the fine-tuned model generates than the base model, with the
adapter as trained (unmerged) and merged into the weights where the method can merge.

Per round, for each prompt length (short, medium, long) and each model in an order that rotates from
round to round, two greedy `generate` calls: one token (the time to the first token: the prompt pass),
then `new_tokens` tokens; the time per further token is their difference over `new_tokens - 1`. All of
it in one process, interleaved, so a slow moment of a shared machine lands on every model alike. The
headline figure is the median over rounds and lengths of (this model's time / the base's time in the
same round) - 1, with the interquartile range of those ratios as its spread: never one measurement.

Merging happens in place (`merge_adapter`) and is undone after each merged measurement; a method that
cannot merge (prompt learning, activation-based methods) says "cannot merge: <why>". Prompt-learning
methods also lengthen every prompt by their virtual tokens, which the record counts.
"""

from __future__ import annotations

import statistics
import time

import torch

from peftbench.metrics import OVERHEAD_MERGED, OVERHEAD_UNMERGED

# Any fixed English text: the prompts are its first N tokens (repeated as needed), the same for every run.
TEXT = ("The river runs past the old mill, where the wheel still turns in spring. Farmers bring their grain "
        "to be ground, and children watch the water fall from the wooden paddles. ")


def _prompt(tokenizer, length: int, device) -> torch.Tensor:
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    ids = (ids * (length // max(len(ids), 1) + 1))[:length]
    return torch.tensor([ids], device=device)


@torch.no_grad()
def _timed(model, ids: torch.Tensor, new_tokens: int, pad_id: int) -> tuple[float, float, float]:
    """(seconds to the first token, seconds per further token, seconds for all `new_tokens`)."""
    mask = torch.ones_like(ids)
    common = {"do_sample": False, "pad_token_id": pad_id, "eos_token_id": None}
    start = time.perf_counter()
    model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=1, min_new_tokens=1, **common)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **common)
    total = time.perf_counter() - start
    return first, max(total - first, 0.0) / (new_tokens - 1), total


def _can_merge(model) -> str | None:
    """None when the model merges in place; otherwise why not."""
    if not hasattr(model, "merge_adapter"):
        return "no adapter to merge" if not hasattr(model, "peft_config") else "this method has no merge"
    try:
        model.merge_adapter()
        model.unmerge_adapter()
    except Exception as err:  # prompt learning, activation-based methods: peft refuses
        return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
    return None


def measure(model, base, tokenizer, cfg, reporter) -> tuple[dict, dict]:
    """(final-row overheads, train_info.inference) for a trained text model beside its base."""
    settings = cfg.overhead
    if settings.repeats == 0:
        return {}, {}
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    no_merge = _can_merge(model)
    names = ["base", "unmerged"] + ([] if no_merge else ["merged"])
    times: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    model.eval()
    started = time.perf_counter()
    with reporter.status("inference overhead"):
        for round_ in range(settings.repeats):
            order = names[round_ % len(names):] + names[: round_ % len(names)]
            for length in settings.prompt_tokens:
                ids = _prompt(tokenizer, length, device)
                for name in order:
                    times.setdefault((name, length), []).append(_run(name, model, base, ids, settings.new_tokens, pad))
    info = {"status": "measured", "repeats": settings.repeats, "prompt_tokens": list(settings.prompt_tokens),
            "new_tokens": settings.new_tokens, "merged": "measured" if not no_merge else f"cannot merge: {no_merge}",
            "virtual_tokens": _virtual_tokens(model), "models": {},
            "seconds": time.perf_counter() - started}  # what measuring added to the run
    final = {}
    for name in names:
        per_length = {}
        ratios = []
        for length in settings.prompt_tokens:
            mine, theirs = times[(name, length)], times[("base", length)]
            per_length[str(length)] = {"first_token_s": statistics.median(t[0] for t in mine),
                                       "per_token_s": statistics.median(t[1] for t in mine)}
            ratios += [m[2] / b[2] - 1 for m, b in zip(mine, theirs) if b[2] > 0]
        entry = {"per_prompt_tokens": per_length}
        if name != "base":
            quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
            entry.update(overhead_median=statistics.median(ratios), overhead_iqr=[quartiles[0], quartiles[2]])
            final[OVERHEAD_UNMERGED.key if name == "unmerged" else OVERHEAD_MERGED.key] = entry["overhead_median"]
        info["models"][name] = entry
    return final, info


def _run(name: str, model, base, ids, new_tokens: int, pad: int):
    if name == "base":
        with base.active():
            return _timed(base.model, ids, new_tokens, pad)
    if name == "unmerged":
        return _timed(model, ids, new_tokens, pad)
    model.merge_adapter()
    try:
        return _timed(model, ids, new_tokens, pad)
    finally:
        model.unmerge_adapter()


def _virtual_tokens(model) -> int:
    """Tokens a prompt-learning adapter puts before every prompt (0 for every other method)."""
    config = getattr(model, "peft_config", {}).get("default") if hasattr(model, "peft_config") else None
    return int(getattr(config, "num_virtual_tokens", 0) or 0) if getattr(config, "is_prompt_learning", False) else 0
