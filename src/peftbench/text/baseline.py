"""The base model's cross-entropy on the forgetting corpus, cached per model + corpus.

Every run of a sweep needs the same "before" number; computing it once and keeping it on disk saves a
full pass over the corpus per run.
"""

from __future__ import annotations

import hashlib
import json

from filelock import FileLock

from peftbench.system.folders import cache_dir
from peftbench.records.results import atomic_write_json
from peftbench.text.evaluate import corpus_cross_entropy


def baseline_key(model_info: dict, corpus_info: dict, cfg) -> str:
    ident = {
        "model": model_info,
        "corpus": corpus_info,
        "max_tokens": cfg.data.forgetting_max_tokens,
        "dtype": cfg.dtype,
        "quantization": cfg.quantization,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]


def base_cross_entropy(model, corpus, pad_id: int, batch_size: int, model_info: dict, corpus_info: dict, cfg) -> float:
    path = cache_dir() / "baselines" / f"{baseline_key(model_info, corpus_info, cfg)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Concurrent runs of a sweep wait for the first one's pass instead of each computing their own.
    with FileLock(str(path.with_suffix(".lock"))):
        return _cached_or_computed(path, model, corpus, pad_id, batch_size, model_info, corpus_info)


def _cached_or_computed(path, model, corpus, pad_id, batch_size, model_info, corpus_info) -> float:
    if path.exists():
        try:
            return float(json.loads(path.read_text())["cross_entropy"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is recomputed, never trusted
    value = corpus_cross_entropy(model, corpus, pad_id, batch_size)
    atomic_write_json(path, {"cross_entropy": value, "model": model_info, "corpus": corpus_info})
    return value
