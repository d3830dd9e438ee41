"""Causal-LM loss that runs the output head only where a label is.

The plain loss (`model(**inputs, labels=...).loss`) projects every position onto the vocabulary, then
ignores the positions whose label is -100: with `loss_on: answer` that is over half of them, and on
SmolLM2-135M the head (576 x 49,152) is about a fifth of a token's work, its cross-entropy more. Here
the model's output head is swapped for an identity for the forward, so the forward returns hidden
states; the ORIGINAL head (an adapter may wrap it: LoRA on lm_head, modules_to_save) is then applied
to the labelled positions only. Nothing depends on the PEFT method: prompt learning that prepends
virtual tokens only shifts the outputs, and the labels align with the last T of them.

The swap is only valid when the forward returns the head's output unchanged and its loss is the plain
mean cross-entropy. Some models post-process logits (soft-capping, scaling) or add auxiliary losses,
so the first call on a model checks exactly that on one row and falls back to the plain loss if not.
"""

from __future__ import annotations

import contextlib
import weakref

import torch
import torch.nn.functional as F

from peftbench.tasks.base import Batch
from peftbench.text.data import IGNORE_INDEX

# model -> bool: may the head be swapped? Checked once per model object (see `_head_swap_is_exact`).
_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CHECK_TOLERANCE = 1e-4  # relative; the check compares two float32 computations of the same loss


def plain_loss(model, inputs: dict) -> torch.Tensor:
    """The reference suite's loss: logits at every position, the model's own loss from `labels`."""
    return model(**inputs).loss


def labelled_positions_loss(model, inputs: dict) -> torch.Tensor:
    """Mean cross-entropy over labelled positions, equal to `plain_loss` to float tolerance."""
    located = _locate_head(model)
    if located is None or not _head_swap_is_exact(model, inputs, located):
        return plain_loss(model, inputs)
    labels = inputs["labels"]
    rest = {k: v for k, v in inputs.items() if k != "labels"}
    with _head_replaced(located) as head:
        hidden = model(**rest).logits  # the identity head returns the final hidden states
    return _selected_cross_entropy(head, hidden, labels)


def causal_lm_loss(model, batch: Batch) -> torch.Tensor:
    """A text task's loss: mean cross-entropy over the labelled tokens, with the output head run on
    those positions only (equal to `plain_causal_lm_loss` to float tolerance; see the module's docstring)."""
    return labelled_positions_loss(model, batch.inputs)


def plain_causal_lm_loss(model, batch: Batch) -> torch.Tensor:
    """The reference suite's loss (the model's own, logits at every position): the benchmarks' baseline."""
    return plain_loss(model, batch.inputs)


def _selected_cross_entropy(head, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # Virtual tokens (prompt/p-tuning) are prepended: the real positions are the last T outputs.
    hidden = hidden[:, hidden.shape[1] - labels.shape[1] :]
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = head(hidden[:, :-1][keep])
    # float(), as transformers' loss does, so bf16 autocast gives the same loss as the plain path.
    return F.cross_entropy(logits.float(), targets[keep])


def _locate_head(model):
    """(parent module, attribute name, head module) of the model's output head, or None."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    if not isinstance(head, torch.nn.Module):
        return None
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is head:
                return parent, name, head
    return None


@contextlib.contextmanager
def _head_replaced(located):
    parent, name, head = located
    setattr(parent, name, torch.nn.Identity())
    try:
        yield head
    finally:
        setattr(parent, name, head)


def _head_swap_is_exact(model, inputs: dict, located) -> bool:
    """Once per model: does the forward return the head's output as logits, and is its loss the mean
    cross-entropy of those logits? Run on the first row without gradients and with the random state
    restored, so training is exactly as if the check had not happened."""
    known = _CHECKED.get(model)
    if known is not None:
        return known
    labelled = (inputs["labels"][:, 1:] != IGNORE_INDEX).any(dim=1).nonzero()
    if labelled.numel() == 0:
        return False  # nothing to compare on (the plain loss is NaN anyway); decide on a later batch
    first = int(labelled[0])
    row = {k: v[first : first + 1] for k, v in inputs.items()}
    captured = []
    hook = located[2].register_forward_hook(lambda _m, _i, out: captured.append(out))
    devices = [row["input_ids"].device] if row["input_ids"].device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            out = model(**row)
    finally:
        hook.remove()
    exact = False
    if len(captured) == 1 and out.loss is not None and captured[0].shape == out.logits.shape:
        same_logits = torch.equal(captured[0], out.logits)
        ours = _selected_cross_entropy(torch.nn.Identity(), captured[0], row["labels"])
        exact = same_logits and bool(torch.isclose(ours, out.loss.float(), rtol=CHECK_TOLERANCE, atol=0))
    _CHECKED[model] = exact
    return exact
