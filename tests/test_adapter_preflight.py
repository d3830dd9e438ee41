"""The meta-device preflight of an adapter config against a model's architecture, no weights
(benchmarks/preflight.py: not wired into planning or runs, see its docstring)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from peftbench.errors import UserError

_spec = importlib.util.spec_from_file_location("preflight", Path(__file__).parents[1] / "benchmarks" / "preflight.py")
_preflight = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("preflight", _preflight)  # its dataclass looks its module up there
_spec.loader.exec_module(_preflight)


@pytest.fixture(scope="module")
def meta_model_of(tiny_model_dir):
    return lambda: _preflight.meta_causal_lm(str(tiny_model_dir))


def test_preflight_counts_the_adapter(meta_model_of):
    found = _preflight.preflight({"peft_type": "LORA", "r": 4, "target_modules": ["q_proj", "v_proj"]}, meta_model_of(), "a.json")
    assert found.trainable and found.trainable < found.total
    assert found.max_rank == 128  # the tiny model: hidden 64, MLP 128; embeddings (vocabulary 49k) do not count


@pytest.mark.parametrize("raw, expected", [
    ({"peft_type": "LORA", "r": 200, "target_modules": ["q_proj"]}, "200 for 'r': expected a rank from 1 to the model's widest layer, 128"),
    ({"peft_type": "LORA", "target_modules": ["nonexistent_proj"]}, "cannot apply LORA to this model: Target modules"),
    ({"peft_type": "FOURIERFT", "n_frequency": 10**6, "target_modules": ["q_proj"]}, "n_frequency"),
    ({"peft_type": "PROMPT_TUNING"}, "unset: num_virtual_tokens"),
    ({"peft_type": "LORA", "r": 100, "target_modules": "all-linear"}, "more than 0.01 times the model's"),
])
def test_preflight_refuses_what_cannot_work(meta_model_of, raw, expected):
    with pytest.raises(UserError) as caught:
        _preflight.preflight(raw, meta_model_of(), "a.json", max_ratio=0.01)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_preflight_is_inconclusive_not_wrong_for_weight_dependent_inits(meta_model_of):
    found = _preflight.preflight({"peft_type": "LORA", "init_lora_weights": "pissa", "target_modules": ["q_proj"]}, meta_model_of(), "a.json")
    assert found.trainable is None or found.trainable > 0
