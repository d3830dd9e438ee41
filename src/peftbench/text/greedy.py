"""Greedy decoding over the KV cache that drops finished rows from the batch.

`model.generate` keeps computing a row after it has emitted EOS until the whole batch is done, so a
batch costs as much as its longest answer times its size. Here a finished row leaves the batch (and
the cache) at once, so each decoding step costs only the rows still writing. Greedy decoding with no
logits processors is the only case handled: `supported()` says when, and the caller falls back to
`generate` otherwise.

Prompt learning (prompt tuning, p-tuning, prefix tuning) is decoded correctly here, which peft 0.21's
`generate` under transformers 5 does not do (it looks for `past_key_values` where transformers now
passes `cache`, so prompt tuning re-inserts its virtual tokens at every step and prefix tuning drops
its prefix). The prefill goes through the PEFT model, which inserts the virtual tokens once; the
decoding steps go through the base model on the cache, which already holds them.

Its steps (`prefill`, `grouped_prefill`, `decoder_of`, `cache_of`, `reserve`) are public: benchmarks/
eval_costs.py times them one by one.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from peftbench.system.signals import check_stop

# Generation-config fields whose non-default value changes greedy decoding; with any of them set the
# caller must use `generate`, which applies them.
_PROCESSOR_FIELDS = {
    "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None, "min_length": 0, "min_new_tokens": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "sequence_bias": None, "exponential_decay_length_penalty": None, "renormalize_logits": False,
    "force_words_ids": None, "constraints": None, "num_beams": 1, "penalty_alpha": None,
    "dola_layers": None, "guidance_scale": None, "low_memory": None, "watermarking_config": None,
    "assistant_model": None, "prompt_lookup_num_tokens": None,
}


def supported(model) -> bool:
    """True when this loop gives exactly what greedy `generate` would (or should, for prompt learning):
    a decoder-only model whose generation config sets nothing that changes greedy decoding."""
    config = getattr(model, "generation_config", None)
    for key, default in _PROCESSOR_FIELDS.items():
        value = getattr(config, key, None)
        if value is not None and value != default:
            return False
    # Activated LoRA finds its invocation tokens in each forward's input ids; peft's generate passes
    # them on, a step over the cache would not.
    if getattr(getattr(model, "active_peft_config", None), "alora_invocation_tokens", None):
        return False
    return not getattr(decoder_of(model).config, "is_encoder_decoder", False)


def forward_params(module) -> set[str]:
    return set(inspect.signature(module.forward).parameters)


def _prompt_learning(model) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def decoder_of(model):
    """The module that runs decoding steps: the base model under a PEFT wrapper (its adapters are
    injected into its layers), the model itself otherwise."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """As generate does: positions count real tokens only, so left padding does not shift them."""
    return (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)


def prefill(model, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    """Run the prompts through the (PEFT) model: (outputs, cache, mask over the cache, last positions)."""
    prompt_learning = _prompt_learning(model)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": True}
    positions = None
    if not prompt_learning:
        # PEFT prompt learning ignores position ids and numbers every position, virtual ones first.
        positions = _positions(attention_mask)
        inputs["position_ids"] = positions
    if "logits_to_keep" in forward_params(decoder_of(model)):
        inputs["logits_to_keep"] = 1  # the prompt's own logits are never needed, only the last one
    out = model(**inputs)
    cache = cache_of(out)
    # Virtual tokens are in the cache but not in the mask: prepend them to the mask (always attended).
    virtual = cache.get_seq_length() - input_ids.shape[1]
    mask = torch.cat([attention_mask.new_ones(input_ids.shape[0], virtual), attention_mask], dim=1)
    return out, cache, mask, None if positions is None else positions[:, -1:]


class PreallocatedLayer(DynamicLayer):
    """A decoding cache layer that writes each new position into room reserved after the prompt.

    transformers' `DynamicLayer` concatenates the whole cache with the new position at every step, a
    copy of every layer's keys and values per generated token: a quarter of a decoding step's time on
    GSM8K's prompts on a CPU (measured with torch.profiler). Here `keys`/`values` are views of longer
    buffers, so attention reads the same numbers in the same layout and the outputs are unchanged."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        """`keys`/`values`: buffers [batch, heads, capacity, dim] holding `length` positions so far."""
        super().__init__()
        self.device, self.is_initialized = keys.device, True
        self._keys, self._values, self._length = keys, values, length
        self._views()

    @classmethod
    def reserving(cls, layer: DynamicLayer, room: int) -> PreallocatedLayer:
        """The layer's positions, with room for `room` more."""
        return cls(cls._grown(layer.keys, room), cls._grown(layer.values, room), layer.keys.shape[-2])

    @staticmethod
    def _grown(states: torch.Tensor, room: int) -> torch.Tensor:
        batch, heads, length, dim = states.shape
        buffer = states.new_empty(batch, heads, length + room, dim)
        buffer[:, :, :length] = states
        return buffer

    def _views(self) -> None:
        self.keys = self._keys[:, :, : self._length]
        self.values = self._values[:, :, : self._length]

    def update(self, key_states, value_states, *args, **kwargs):
        end = self._length + key_states.shape[-2]
        if end > self._keys.shape[-2]:  # past the room reserved: fall back to growing by copy
            self._keys = self._grown(self._keys[:, :, : self._length], key_states.shape[-2])
            self._values = self._grown(self._values[:, :, : self._length], key_states.shape[-2])
        self._keys[:, :, self._length : end] = key_states
        self._values[:, :, self._length : end] = value_states
        self._length = end
        self._views()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._keys, self._values = self._keys[indices], self._values[indices]
        self._views()


def reserve(cache, room: int) -> None:
    """Give every plain dynamic layer of the cache room for `room` more positions (others untouched)."""
    layers = getattr(cache, "layers", None)
    if not isinstance(layers, list):
        return
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys.dim() == 4:
            layers[i] = PreallocatedLayer.reserving(layer, room)


# Rows per prompt pass when the prompts are run in groups (see `grouped_prefill`).
PREFILL_GROUP = 8


def _plain_cache(cache) -> bool:
    """A transformers DynamicCache of plain layers and nothing else. A method may return its own cache
    (ShadowPEFT pairs the base model's cache with its shadow model's): merging only the part seen
    here would leave the rest holding the last group's rows."""
    return type(cache) is DynamicCache and all(type(layer) is DynamicLayer for layer in cache.layers)


def grouped_prefill(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, room: int):
    """The prompt pass in groups of similar length, merged into one left-padded cache for decoding.

    One left-padded batch computes every row over the longest prompt's width: on GSM8K's 50 test
    prompts half of those positions are padding. Run in groups of `PREFILL_GROUP` rows sorted by length,
    each group is only as wide as its own longest prompt. The groups' keys and values then go to the
    positions the whole batch would have given them, so decoding runs all rows together as before.
    Only for plain dynamic caches (no prompt learning, no method's own cache); otherwise None."""
    if _prompt_learning(model):
        return None
    lengths = attention_mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    batch, width = input_ids.shape
    layers, logits = None, None
    for start in range(0, batch, PREFILL_GROUP):
        rows = order[start : start + PREFILL_GROUP]
        span = int(lengths[rows].max())  # left padding: a row's tokens are its last `length` columns
        out, cache, _, _ = prefill(model, input_ids[rows, -span:], attention_mask[rows, -span:])
        if not _plain_cache(cache):
            return None
        if layers is None:
            logits = out.logits.new_zeros(batch, out.logits.shape[-1])
            layers = [PreallocatedLayer(*(s.new_zeros(batch, s.shape[1], width + room, s.shape[3])
                                           for s in (layer.keys, layer.values)), width)
                      for layer in cache.layers]
        for merged, layer in zip(layers, cache.layers):
            merged._keys[rows, :, width - span : width] = layer.keys
            merged._values[rows, :, width - span : width] = layer.values
        logits[rows] = out.logits[:, -1]
    cache.layers[:] = layers
    return logits, cache, attention_mask, _positions(attention_mask)[:, -1:]


def _prompt_pass(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, room: int):
    """(last logits, cache with room for `room` more positions, mask over the cache, last positions)."""
    grouped = grouped_prefill(model, input_ids, attention_mask, room) if input_ids.shape[0] > PREFILL_GROUP else None
    if grouped is not None:
        return grouped
    out, cache, mask, position = prefill(model, input_ids, attention_mask)
    reserve(cache, room)
    return out.logits[:, -1], cache, mask, position


@torch.no_grad()
def greedy_decode(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int,
    stop: Callable[[int, list[int]], bool] | None = None,
) -> list[list[int]]:
    """Generated token ids per row (EOS included when emitted) of a LEFT-padded batch.

    `stop(row, tokens)` may end a row early (e.g. once a task's answer can no longer change)."""
    logits, cache, mask, position = _prompt_pass(model, input_ids, attention_mask, max_new_tokens)
    decoder = decoder_of(model)
    cache_key = "cache" if "cache" in forward_params(decoder) else "past_key_values"  # transformers 5 / 4
    can_drop = hasattr(cache, "batch_select_indices")
    active = list(range(input_ids.shape[0]))  # batch slot -> row
    generated: list[list[int]] = [[] for _ in active]
    done: set[int] = set()  # finished rows still in the batch (only when the cache cannot drop them)
    for step in range(max_new_tokens):
        check_stop()
        token = logits.argmax(-1)
        for row, tok in zip(active, token.tolist()):
            if row not in done:
                generated[row].append(tok)
                if tok == eos_token_id or (stop is not None and stop(row, generated[row])):
                    done.add(row)
        if step == max_new_tokens - 1 or all(row in done for row in active):
            break
        if can_drop and done:
            keep = [slot for slot, row in enumerate(active) if row not in done]
            index = torch.tensor(keep, device=token.device)
            active, token, mask = [active[k] for k in keep], token[index], mask[index]
            position = position[index] if position is not None else None
            cache.batch_select_indices(index)
            done.clear()
        mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
        step_inputs = {"input_ids": token[:, None], "attention_mask": mask, "use_cache": True, cache_key: cache}
        if position is not None:
            position = position + 1
            step_inputs["position_ids"] = position
        out = decoder(**step_inputs)
        cache, logits = cache_of(out), out.logits[:, -1]
    return generated
