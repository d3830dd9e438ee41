"""Accounted memory: saved tensors counted once per storage and released after backward; the same run
gives the same figures; more trainable state means more memory."""

import pytest
import torch

from peftbench.adapters.build import build_optimizer, wrap_model
from peftbench.telemetry.memory_accounting import AccountedMemory, unique_bytes
from peftbench.tasks.minimath import problems as minimath_data
from peftbench.text.data import collate, encode_example
from peftbench.text.lm_loss import causal_lm_loss


def test_saved_tensors_are_counted_once_per_storage_and_released():
    w = torch.nn.Parameter(torch.ones(8, 8))
    opt = torch.optim.SGD([w], lr=0.1)
    model = torch.nn.Module()
    model.w = w
    x = torch.randn(4, 8)
    with AccountedMemory(model, opt) as acc:
        h = x @ w  # saves x (w is a parameter: counted as one, not as an activation)
        y = h * h  # saves h twice: one storage
        z = y[:2] * y[:2]  # saves a view of y twice: y's storage, once
        z.sum().backward()
        opt.step()
        row = acc.step()
        assert acc._live_bytes == 0  # the graph is freed: nothing is held any more
    assert row["saved_activations"] == x.nbytes + h.nbytes + y.nbytes
    assert row["parameters"] == row["trainable_parameters"] == row["gradients"] == w.nbytes
    assert row["optimizer_state"] == 0  # plain SGD keeps none
    assert row["total"] == 2 * w.nbytes + row["saved_activations"]


def test_unique_bytes_counts_tied_storage_once():
    a = torch.zeros(10)
    assert unique_bytes([a, a.view(2, 5), a[3:]]) == a.nbytes
    assert unique_bytes([a, torch.zeros(10)]) == 2 * a.nbytes


ADAPTERS = {
    "lora": {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                                                              "gate_proj", "up_proj", "down_proj"]},
    "ia3": {"peft_type": "IA3", "target_modules": ["k_proj", "v_proj", "down_proj"], "feedforward_modules": ["down_proj"]},
    "full-finetuning": None,
}


def _accounted_run(tiny_model_dir, method: str, steps: int = 2) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peftbench.tasks.base import Batch

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    raw = ADAPTERS[method]
    model = wrap_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                       None if raw is None else {**raw, "task_type": "CAUSAL_LM"}, "test", True).train()
    optimizer = build_optimizer(model, "AdamW", {"lr": 1e-3})
    examples = minimath_data.generate("train", 2 * steps, seed=0)
    encoded = [encode_example(tokenizer, "Question: {query}\nAnswer:", ex, 96, "answer") for ex in examples]
    with AccountedMemory(model, optimizer) as acc:
        for i in range(steps):
            batch = Batch(collate(encoded[2 * i : 2 * i + 2], tokenizer.pad_token_id), samples=2, tokens=0)
            causal_lm_loss(model, batch).backward()
            optimizer.step()
            acc.step()
            optimizer.zero_grad(set_to_none=True)
    return acc.summary()


def test_same_run_gives_the_same_figures(tiny_model_dir):
    first, second = (_accounted_run(tiny_model_dir, "lora") for _ in range(2))
    assert first == second
    assert first["max"] >= first["avg"] > 0
    assert set(first["breakdown"]) == {"parameters", "trainable_parameters", "gradients", "optimizer_state",
                                       "saved_activations"}


@pytest.mark.parametrize("bigger, smaller", [("full-finetuning", "lora"), ("lora", "ia3")])
def test_more_trainable_state_means_more_accounted_memory(tiny_model_dir, bigger, smaller):
    big, small = _accounted_run(tiny_model_dir, bigger), _accounted_run(tiny_model_dir, smaller)
    assert big["max"] > small["max"]
    assert big["breakdown"]["optimizer_state"] > small["breakdown"]["optimizer_state"] > 0
