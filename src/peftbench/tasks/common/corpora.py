"""General-text corpora for measuring forgetting (how much a fine-tune hurts plain language modelling).

The offline task uses CPython's own pydoc topic texts: English prose about Python that ships with every
interpreter, so it needs no download. It can differ between Python versions, which is why the info
records the version and a hash of the exact texts used.
"""

from __future__ import annotations

import hashlib
import platform

from peftbench.errors import UserError

_MIN_CHARS = 200  # shorter topics are mostly cross-references, not prose


def _available_topics() -> list[str]:
    from pydoc_data.topics import topics  # imported lazily: a large module few code paths need

    return [topics[key] for key in sorted(topics) if len(topics[key]) >= _MIN_CHARS]


def pydoc_topic_count() -> int:
    """How many texts `pydoc_topics` can supply (this Python version's)."""
    return len(_available_topics())


def pydoc_topics(n_texts: int, max_chars: int = 2000) -> tuple[list[str], dict]:
    """The first `n_texts` pydoc topics (sorted by key, >= 200 chars), each cut to `max_chars`."""
    available = _available_topics()
    if not 0 < n_texts <= len(available):
        raise UserError(f"pydoc topics: n_texts must be between 1 and {len(available)}, got {n_texts}")
    if max_chars < 1:
        raise UserError(f"pydoc topics: max_chars must be >= 1, got {max_chars}")
    texts = [text[:max_chars] for text in available[:n_texts]]
    # NUL never occurs in the texts, so the hash identifies the list, not just the concatenation.
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()
    info = {
        "source": "pydoc_data.topics",
        "python_version": platform.python_version(),
        "sha256": digest,
        "n_texts": len(texts),
        "max_chars": max_chars,
    }
    return texts, info
