"""Tokenised training data is cached by content and reused, never trusted when damaged."""

from __future__ import annotations

from peftbench.tasks.base import Example
from peftbench.text import data

EXAMPLES = [Example(f"id{i}", f"What is {i} + 1?", f"{i} + 1 = {i + 1}. The answer is {i + 1}.", str(i + 1)) for i in range(5)]


def cached_files():
    return sorted((data.cache_dir() / "tokenised").glob("*.json"))


def test_second_encoding_comes_from_the_cache(tiny_model_dir, monkeypatch):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    first = data.encode_all(tok, "Q: {query}\nA:", EXAMPLES, 64, "answer")
    assert len(cached_files()) >= 1

    def not_again(*args):
        raise AssertionError("encoded again despite the cache")

    monkeypatch.setattr(data, "encode_example", not_again)
    assert data.encode_all(tok, "Q: {query}\nA:", EXAMPLES, 64, "answer") == first


def test_any_change_of_input_is_a_new_entry_and_damage_is_recomputed(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    keys = {data._encoding_key(tok, t, ex, n, loss) for t, ex, n, loss in [
        ("Q: {query}\nA:", EXAMPLES, 64, "answer"), ("Q: {query}\nA: ", EXAMPLES, 64, "answer"),
        ("Q: {query}\nA:", EXAMPLES[:4], 64, "answer"), ("Q: {query}\nA:", EXAMPLES, 32, "answer"),
        ("Q: {query}\nA:", EXAMPLES, 64, "all")]}
    assert len(keys) == 5
    fresh = data.encode_all(tok, "Q: {query}\nA:", EXAMPLES, 64, "all")
    key = data._encoding_key(tok, "Q: {query}\nA:", EXAMPLES, 64, "all")
    path = data.cache_dir() / "tokenised" / f"{key}.json"
    path.write_text("[[1, 2], [3")  # damaged
    assert data.encode_all(tok, "Q: {query}\nA:", EXAMPLES, 64, "all") == fresh


def test_key_ignores_the_tokenizers_truncation_state(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    before = data._encoding_key(tok, "Q: {query}\nA:", EXAMPLES, 64, "answer")
    tok(["some text"] * 2, truncation=True, max_length=8, padding=True)  # leaves state on the backend
    assert data._encoding_key(tok, "Q: {query}\nA:", EXAMPLES, 64, "answer") == before
