"""The labelled-positions loss equals the model's own loss, and so do its gradients, for every kind of
PEFT method: adapters in the body, adapters on the head, prompt learning with virtual tokens, full
fine-tuning (whose head is tied to the input embeddings)."""

import pytest
import torch

from peftbench.adapters.build import wrap_model
from peftbench.tasks.minimath import problems as minimath_data
from peftbench.text.data import collate, encode_example
from peftbench.text.lm_loss import labelled_positions_loss, plain_loss

TEMPLATE = "Question: {query}\nAnswer:"
ADAPTERS = {
    "lora": {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
             "init_lora_weights": False},
    "lora-on-head": {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj", "lm_head"], "init_lora_weights": False},
    "lora-dropout": {"peft_type": "LORA", "r": 4, "lora_dropout": 0.3, "target_modules": ["q_proj", "down_proj"]},
    "ia3": {"peft_type": "IA3", "target_modules": ["k_proj", "down_proj"], "feedforward_modules": ["down_proj"]},
    "prompt_tuning": {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 5},
    "p_tuning": {"peft_type": "P_TUNING", "num_virtual_tokens": 4, "encoder_hidden_size": 16},
    "prefix_tuning": {"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 3},
    "full-finetuning": None,
}


def _model(tiny_model_dir, adapter):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    raw = None if adapter is None else {**adapter, "task_type": "CAUSAL_LM"}
    return wrap_model(model, raw, "test", autocast_adapter_dtype=True).train()


def _batch(tiny_model_dir, loss_on: str, n: int = 3) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = minimath_data.generate("train", n, seed=1)
    items = [encode_example(tokenizer, TEMPLATE, ex, 96, loss_on) for ex in examples]
    return collate(items, tokenizer.pad_token_id)


def _loss_and_grads(model, loss_fn, inputs, seed=0):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # same dropout masks for both losses
    loss = loss_fn(model, inputs)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def _head_input_shapes(model, loss_fn, inputs) -> list[tuple]:
    shapes = []
    hook = model.get_output_embeddings().register_forward_hook(lambda _m, args, _o: shapes.append(tuple(args[0].shape)))
    try:
        loss_fn(model, inputs)
    finally:
        hook.remove()
    return shapes


@pytest.mark.parametrize("method", sorted(ADAPTERS))
def test_loss_and_gradients_equal_the_plain_ones(tiny_model_dir, method):
    model = _model(tiny_model_dir, ADAPTERS[method])
    inputs = _batch(tiny_model_dir, "answer")
    fast_loss, fast_grads = _loss_and_grads(model, labelled_positions_loss, inputs)
    # The fast path was taken: the head saw exactly the labelled positions, nothing else.
    labelled = int((inputs["labels"][:, 1:] != -100).sum())
    assert _head_input_shapes(model, labelled_positions_loss, inputs) == [(labelled, 64)]
    ref_loss, ref_grads = _loss_and_grads(model, plain_loss, inputs)
    assert torch.isfinite(ref_loss)
    torch.testing.assert_close(fast_loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert fast_grads.keys() == ref_grads.keys() and ref_grads
    for name, grad in ref_grads.items():
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_loss_on_all_tokens_and_the_head_is_restored(tiny_model_dir):
    model = _model(tiny_model_dir, ADAPTERS["lora-on-head"])
    head = model.get_output_embeddings()
    inputs = _batch(tiny_model_dir, "all")
    torch.testing.assert_close(labelled_positions_loss(model, inputs), plain_loss(model, inputs), rtol=1e-5, atol=1e-6)
    assert model.get_output_embeddings() is head


class _ScaledLogits(torch.nn.Module):
    """A model whose forward post-processes the head's output (as soft-capping models do)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def forward(self, labels=None, **kwargs):
        out = self.inner(**kwargs)
        out.logits = 2.0 * out.logits
        out.loss = torch.nn.functional.cross_entropy(
            out.logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)
        return out


def test_models_that_post_process_logits_get_the_plain_loss(tiny_model_dir):
    model = _ScaledLogits(_model(tiny_model_dir, None))
    inputs = _batch(tiny_model_dir, "answer")
    torch.testing.assert_close(labelled_positions_loss(model, inputs), plain_loss(model, inputs))
    assert len(_head_input_shapes(model, labelled_positions_loss, inputs)[0]) == 3  # every position: plain path


def test_a_method_that_adds_to_the_loss_keeps_its_term(tiny_model_dir):
    # AdaLoRA adds an orthogonality regulariser to the model's loss when labels are given: the
    # once-per-model check sees that the loss is not the plain cross-entropy and keeps the plain path.
    adalora = {"peft_type": "ADALORA", "init_r": 4, "target_r": 2, "target_modules": ["q_proj", "v_proj"],
               "total_step": 10, "orth_reg_weight": 0.5}
    model = _model(tiny_model_dir, adalora)
    inputs = _batch(tiny_model_dir, "answer")
    torch.testing.assert_close(labelled_positions_loss(model, inputs), plain_loss(model, inputs))
    assert len(_head_input_shapes(model, labelled_positions_loss, inputs)[0]) == 3
