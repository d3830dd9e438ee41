"""The row-dropping greedy loop gives, item by item, what plain greedy `generate` gives (and, for prompt
learning, what the model's own forward gives), and falls back to `generate` where it cannot."""

from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from peftbench.adapters.build import wrap_model
from peftbench.tasks.minimath import problems as minimath_data
from peftbench.text import greedy
from peftbench.text.evaluate import generate_answers, plain_generate_answers, score_answers
from peftbench.text.extract import score

TEMPLATE = "Question: {query}\nAnswer:"
CFG = SimpleNamespace(generation_kwargs=SimpleNamespace(max_new_tokens=10, max_length=200), batch_size_eval=4,
                      query_template=TEMPLATE)
LORA = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj", "v_proj"], "init_lora_weights": False}


class _Tokenizer:
    """The real tokenizer with another EOS: the random tiny model never writes the real one, and the
    test needs rows that finish at different steps."""

    def __init__(self, inner, eos_token_id):
        self._inner, self.eos_token_id = inner, eos_token_id

    def __call__(self, *args, **kwargs):
        return self._inner(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _model(tiny_model_dir, adapter):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():  # sharper logits than at random init: varied tokens, no near-ties
        for p in model.parameters():
            p.mul_(6)
    return wrap_model(model, None if adapter is None else {**adapter, "task_type": "CAUSAL_LM"}, "t", True).eval()


def _tokenizer(tiny_model_dir):
    from peftbench.text.models import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


def _eos_that_ends_rows_early(model, tokenizer, examples) -> int:
    """A token that greedy decoding writes in several rows, first at different steps."""
    prompts = [TEMPLATE.format(query=ex.question) for ex in examples]
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    rows = greedy.greedy_decode(model, enc["input_ids"], enc["attention_mask"], 10, eos_token_id=-1)
    first_steps: dict[int, set] = {}
    for ids in rows:
        for tok in set(ids[:-1]):
            first_steps.setdefault(tok, set()).add(ids.index(tok))
    return Counter({tok: len(steps) for tok, steps in first_steps.items()}).most_common(1)[0][0]


@pytest.mark.parametrize("prefill_group", [2, 8], ids=["grouped-prompt-pass", "one-prompt-pass"])
@pytest.mark.parametrize("adapter", [LORA, None], ids=["lora", "full-finetuning"])
def test_same_text_answers_and_scores_as_generate(tiny_model_dir, adapter, prefill_group, monkeypatch):
    from transformers import DynamicCache

    monkeypatch.setattr(greedy, "PREFILL_GROUP", prefill_group)  # batches of 4 rows: 2 groups, or 1 pass
    grouped = []
    group = greedy.grouped_prefill

    def spy(*args):
        grouped.append(group(*args))
        return grouped[-1]

    monkeypatch.setattr(greedy, "grouped_prefill", spy)
    dropped = []
    select = DynamicCache.batch_select_indices
    monkeypatch.setattr(DynamicCache, "batch_select_indices", lambda self, idx: dropped.append(len(idx)) or select(self, idx))
    model, examples = _model(tiny_model_dir, adapter), minimath_data.generate("test", 10, seed=0)
    tokenizer = _tokenizer(tiny_model_dir)
    tokenizer = _Tokenizer(tokenizer, _eos_that_ends_rows_early(model, tokenizer, examples))
    grouped.clear()
    plain = plain_generate_answers(model, tokenizer, CFG, examples)
    fast = generate_answers(model, tokenizer, CFG, examples)
    assert greedy.supported(model)
    lengths = {len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in plain}
    assert len(lengths) >= 2, "rows must stop at different steps, or nothing was dropped"
    assert fast == plain
    assert dropped, "finished rows must leave the batch"
    assert any(g is not None for g in grouped) == (prefill_group < CFG.batch_size_eval)
    prompt = lambda q: TEMPLATE.format(query=q)  # noqa: E731
    assert score_answers(examples, fast, score, prompt) == score_answers(examples, plain, score, prompt)


def _forward_greedy(model, input_ids, mask, steps, eos) -> list[list[int]]:
    """The model's own greedy continuation: a full forward (no cache) per token."""
    rows = [[] for _ in range(len(input_ids))]
    with torch.no_grad():
        for _ in range(steps):
            tokens = model(input_ids=input_ids, attention_mask=mask).logits[:, -1].argmax(-1)
            for row, tok in zip(rows, tokens.tolist()):
                if not row or row[-1] != eos:
                    row.append(tok)
            input_ids = torch.cat([input_ids, tokens[:, None]], 1)
            mask = torch.cat([mask, mask.new_ones(len(mask), 1)], 1)
    return rows


@pytest.mark.parametrize("adapter", [
    {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4},
    {"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 3},
], ids=["prompt_tuning", "prefix_tuning"])
def test_prompt_learning_decodes_what_its_forward_predicts(tiny_model_dir, adapter):
    model, tokenizer = _model(tiny_model_dir, adapter), _tokenizer(tiny_model_dir)
    with torch.no_grad():  # virtual tokens that matter
        for p in model.prompt_encoder.parameters():
            p.normal_(0, 1)
    prompts = [TEMPLATE.format(query=ex.question) for ex in minimath_data.generate("test", 3, seed=0)]
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    reference = _forward_greedy(model, enc["input_ids"], enc["attention_mask"], 6, eos=-1)
    assert greedy.supported(model)
    assert greedy.greedy_decode(model, enc["input_ids"], enc["attention_mask"], 6, eos_token_id=-1) == reference


def test_generation_config_with_processors_falls_back_to_generate(tiny_model_dir):
    model, examples = _model(tiny_model_dir, LORA), minimath_data.generate("test", 3, seed=0)
    model.generation_config.repetition_penalty = 1.5
    assert not greedy.supported(model)
    tokenizer = _tokenizer(tiny_model_dir)
    assert generate_answers(model, tokenizer, CFG, examples) == plain_generate_answers(model, tokenizer, CFG, examples)


def test_a_stop_rule_ends_rows_early_and_keeps_the_text_before(tiny_model_dir):
    model, examples = _model(tiny_model_dir, LORA), minimath_data.generate("test", 6, seed=0)
    tokenizer = _tokenizer(tiny_model_dir)
    plain = plain_generate_answers(model, tokenizer, CFG, examples)
    # Rows stop at different lengths: after 2 characters of text for some, never for others.
    stop = lambda text: len(text) >= 2 and len(text) % 2 == 0  # noqa: E731
    stopped = generate_answers(model, tokenizer, CFG, examples, stop=stop)
    assert all(p.startswith(s) for p, s in zip(plain, stopped))
    assert any(len(s) < len(p) for p, s in zip(plain, stopped))
    for text in stopped:
        assert stop(text) or text in plain  # stopped by the rule, or ran to its natural end


def test_activated_lora_falls_back_to_generate(tiny_model_dir):
    model = _model(tiny_model_dir, {**LORA, "alora_invocation_tokens": [42, 43]})
    assert not greedy.supported(model)


def test_preallocated_cache_layer_returns_what_concatenation_returns():
    """Decoding writes into room reserved after the prompt instead of concatenating; the keys and values
    attention sees are the same numbers, also past the room and after rows leave the batch."""
    from transformers.cache_utils import DynamicLayer

    torch.manual_seed(0)
    grown, reserved = DynamicLayer(), DynamicLayer()
    prompt = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4)
    grown.update(*prompt)
    reserved.update(*prompt)
    reserved = greedy.PreallocatedLayer.reserving(reserved, room=2)
    for step in range(4):  # two steps fit the room, two more grow it
        if step == 1:
            keep = torch.tensor([0, 2])
            grown.batch_select_indices(keep)
            reserved.batch_select_indices(keep)
        new = torch.randn(grown.keys.shape[0], 2, 1, 4), torch.randn(grown.keys.shape[0], 2, 1, 4)
        expected, got = grown.update(*new), reserved.update(*new)
        assert all(torch.equal(e, g) for e, g in zip(expected, got))
        assert reserved.get_seq_length() == grown.get_seq_length() == 6 + step


def test_decoding_uses_the_preallocated_cache(tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    seen = []
    reserve = greedy.reserve
    monkeypatch.setattr(greedy, "reserve", lambda cache, room: (reserve(cache, room), seen.append(cache))[0])
    ids = torch.tensor([[0, 5, 6, 7], [8, 9, 10, 11]])
    greedy.greedy_decode(model, ids, torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]]), 3, eos_token_id=-1)
    assert seen and all(isinstance(layer, greedy.PreallocatedLayer) for layer in seen[0].layers)


def test_a_method_with_its_own_cache_keeps_one_prompt_pass(tiny_model_dir, monkeypatch):
    """ShadowPEFT pairs the base model's cache with its shadow model's; grouping the prompt pass would
    merge only one of them, so such a cache is decoded from one pass, and matches `generate`."""
    monkeypatch.setattr(greedy, "PREFILL_GROUP", 2)
    model = _model(tiny_model_dir, {"peft_type": "SHADOW", "r": 4, "shadow_num_hidden_layers": 1})
    examples = minimath_data.generate("test", 4, seed=0)
    prompts = [TEMPLATE.format(query=ex.question) for ex in examples]
    enc = _tokenizer(tiny_model_dir)(prompts, return_tensors="pt", padding=True)
    assert greedy.grouped_prefill(model, enc["input_ids"], enc["attention_mask"], 3) is None
    tokenizer = _tokenizer(tiny_model_dir)
    assert generate_answers(model, tokenizer, CFG, examples) == plain_generate_answers(model, tokenizer, CFG, examples)
