"""What a shipped method can do besides training, measured on the tiny stand-in after a short run:

- merge: `merge_and_unload()` gives a plain model with the tuned model's outputs;
- switch: two adapters trained apart, loaded on one base from their saved files and switched, give
  each adapter's own outputs (and differ from each other);
- base: disabling the adapter gives the untouched base model's outputs (peftbench's drift metric
  compares against exactly that);
- quantized: the method trains on a 4-bit (bitsandbytes NF4) base;
- layers: the layer types it wraps.

Outputs are compared as max |difference| of logits relative to max |logit| (RTOL)."""

from __future__ import annotations

import importlib.util
import math
import tempfile

import torch

from peftbench.experiment import Experiment
from peftbench.methods.probe import CPU, one_line, train_text_probe

RTOL = 1e-4  # float32 merging of a tiny model differs by ~1e-6 relative; a wrong merge by far more


def text_capabilities(exp: Experiment) -> dict:
    if exp.peft_config is None:
        return {k: {"value": "n/a", "detail": "full fine-tuning changes the model itself"}
                for k in ("merge", "switch", "base", "quantized", "layers")}
    probe = train_text_probe(exp, seed=1)
    ids = _probe_ids(probe.tokenizer)
    tuned = _logits(probe.model, ids)
    base = _logits(_fresh_base(probe), ids)
    return {
        "base": _compare("disabled adapter vs base", _disabled_logits(probe.model, ids), base),
        "layers": {"value": ", ".join(layer_types(probe.model)), "detail": ""},
        "merge": _merge(probe.model, ids, tuned, base),
        "switch": _switch(exp, ids),
        "quantized": _quantized(exp),
    }


def _probe_ids(tokenizer) -> torch.Tensor:
    return tokenizer("Question: Tom has 3 apples and buys 4 more. How many now?\nAnswer:", return_tensors="pt")["input_ids"]


@torch.no_grad()
def _logits(model, ids) -> torch.Tensor:
    model.eval()
    return model(input_ids=ids.to(CPU), attention_mask=torch.ones_like(ids)).logits.float()


def _fresh_base(probe):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(probe.cfg.model_id)


def _disabled_logits(model, ids):
    with model.disable_adapter():
        return _logits(model, ids)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _compare(what: str, got: torch.Tensor, want: torch.Tensor) -> dict:
    rel = _rel(got, want)
    return {"value": "yes" if rel <= RTOL else "no", "detail": f"{what}: relative difference {rel:.1e}"}


def _merge(model, ids, tuned, base) -> dict:
    effect = _rel(tuned, base)
    if effect <= RTOL:
        return {"value": "unclear", "detail": f"the short run left outputs unchanged ({effect:.1e}): nothing to merge"}
    try:
        merged = model.merge_and_unload()
    except Exception as err:  # no merge for this method (prompt learning, activation-based methods...)
        return {"value": "no", "detail": one_line(err)}
    result = _compare("merged vs tuned", _logits(merged, ids), tuned)
    result["detail"] += f" (tuning moved outputs by {effect:.1e})"
    return result


def _switch(exp: Experiment, ids) -> dict:
    from peft import PeftModel

    try:
        with tempfile.TemporaryDirectory(prefix="peftbench-switch-") as tmp:
            alone = {}
            for name, seed in (("a", 2), ("b", 3)):
                probe = train_text_probe(exp, seed=seed)
                alone[name] = _logits(probe.model, ids)
                probe.model.save_pretrained(f"{tmp}/{name}")
            model = PeftModel.from_pretrained(_fresh_base(probe), f"{tmp}/a", adapter_name="a")
            model.load_adapter(f"{tmp}/b", adapter_name="b")
            switched = {}
            for name in ("b", "a"):
                model.set_adapter(name)
                switched[name] = _logits(model, ids)
    except Exception as err:
        return {"value": "no", "detail": one_line(err)}
    apart = _rel(alone["a"], alone["b"])
    errors = {name: _rel(switched[name], alone[name]) for name in alone}
    ok = apart > RTOL and max(errors.values()) <= RTOL
    detail = f"each vs alone: {errors['a']:.1e} / {errors['b']:.1e}; a vs b: {apart:.1e}"
    return {"value": "yes" if ok else "no", "detail": detail}


def _quantized(exp: Experiment) -> dict:
    if importlib.util.find_spec("bitsandbytes") is None:
        return {"value": "not checked here", "detail": "bitsandbytes is not installed"}
    try:
        probe = train_text_probe(exp, extra={"quantization": "4bit"})
    except Exception as err:
        return {"value": "no", "detail": one_line(err)}
    quantized = sum(type(m).__name__ == "Linear4bit" for m in probe.model.modules())
    ok = quantized > 0 and math.isfinite(probe.loss) and probe.moved
    detail = f"{quantized} 4-bit layers, loss {probe.loss:.3g}, weights moved: {probe.moved}"
    return {"value": "yes" if ok else "no", "detail": detail}


def layer_types(model) -> list[str]:
    """Class names of the base layers a peft model wraps ("virtual tokens" for prompt learning)."""
    from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer
    from transformers import PreTrainedModel

    config = getattr(model, "active_peft_config", None)
    if config is not None and config.is_prompt_learning:
        return ["virtual tokens"]
    found = set()
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            found.add(type(module.get_base_layer()).__name__)
        elif type(module).__module__.startswith("peft.tuners") and not isinstance(module, BaseTuner):
            # Wrappers that are not tuner layers (e.g. adapted attention): name what they wrap, but not
            # the whole model that a method-level wrapper holds.
            found.update(type(child).__name__ for child in module.children()
                         if not isinstance(child, PreTrainedModel)
                         and not type(child).__module__.startswith(("peft", "torch.nn.modules.container")))
    return sorted(found)


CAPABILITIES = ("merge", "switch", "base", "quantized", "layers")


def experiment_capabilities(exp: Experiment, refresh: bool = False) -> dict:
    """The cached capability answers of one experiment; image tasks are not measured yet."""
    from peftbench.methods.cache import cached
    from peftbench.methods.coverage import check_payload
    from peftbench.tasks import task_spec

    if task_spec(exp.task).kind != "text":
        return {k: {"value": "not checked here", "detail": "measured for text tasks only"} for k in CAPABILITIES}
    payload = {**check_payload(exp), "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None}
    return cached("capabilities", payload, lambda: text_capabilities(exp), refresh)
