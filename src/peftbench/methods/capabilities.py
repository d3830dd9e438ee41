"""What a shipped method can do besides training, measured on the tiny stand-in of its task's model
after a short run (text: the tiny Llama through peftbench's training loop; images: the task's
denoiser, `image_probe`):

- merge: `merge_and_unload()` gives a plain model with the tuned model's outputs;
- switch: two adapters trained apart, loaded on one base from their saved files and switched, give
  each adapter's own outputs (and differ from each other);
- base: disabling the adapter gives the untouched base model's outputs (peftbench's drift metric
  compares against exactly that);
- quantized: the method trains on a 4-bit (bitsandbytes NF4) base (text tasks: image tasks load no
  quantized base);
- layers: the layer types it wraps.

Outputs are compared as max |difference| of outputs (logits, or the denoiser's prediction) relative to
max |output| (RTOL)."""

from __future__ import annotations

import importlib.util
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from peftbench.planning.experiment import Experiment
from peftbench.methods.probe import CPU, one_line, train_text_probe
from peftbench.records.results import CAPABILITIES  # one list for the checks and the (torch-free) report

RTOL = 1e-4  # float32 merging of a tiny model differs by ~1e-6 relative; a wrong merge by far more
# A merge that tuning moved far (FourierFT's inverse FFT on a large step) carries float error in proportion:
# it still counts as exact within this share of the change, while a wrong merge misses by about all of it.
MERGE_SHARE = 1e-3
FULL_FT = "full fine-tuning changes the model itself"


@dataclass
class Probed:
    """One experiment trained on a stand-in, and what the checks need to measure it."""

    model: torch.nn.Module  # the trained PEFT model
    outputs: Callable[[torch.nn.Module], torch.Tensor]  # a model's outputs on the fixed probe input
    fresh_base: Callable[[], torch.nn.Module]  # the stand-in as it was before any adapter
    train: Callable[[int], torch.nn.Module]  # another adapter of the experiment, trained with this seed
    quantized: Callable[[], dict]


def measure(probed: Probed) -> dict:
    tuned = _eval(probed.outputs, probed.model)
    base = _eval(probed.outputs, probed.fresh_base())
    with probed.model.disable_adapter():
        disabled = _eval(probed.outputs, probed.model)
    return {
        "base": _compare("disabled adapter vs base", disabled, base),
        "layers": {"value": ", ".join(layer_types(probed.model)), "detail": ""},
        "merge": _merge(probed, tuned, base),
        "switch": _switch(probed),
        "quantized": probed.quantized(),
    }


@torch.no_grad()
def _eval(outputs, model) -> torch.Tensor:
    model.eval()
    return outputs(model).float()


def text_capabilities(exp: Experiment) -> dict:
    if exp.peft_config is None:
        return {k: {"value": "n/a", "detail": FULL_FT} for k in CAPABILITIES}
    probe = train_text_probe(exp, seed=1)
    ids = _probe_ids(probe.tokenizer)
    return measure(Probed(
        model=probe.model,
        outputs=lambda model: model(input_ids=ids.to(CPU), attention_mask=torch.ones_like(ids)).logits,
        fresh_base=lambda: _fresh_text_base(probe),
        train=lambda seed: train_text_probe(exp, seed=seed).model,
        quantized=lambda: _quantized(exp),
    ))


def image_capabilities(exp: Experiment) -> dict:
    from peftbench.methods.image_probe import denoiser_for, missing_image_extra, train_image_probe

    if exp.peft_config is None:
        return {k: {"value": "n/a", "detail": FULL_FT} for k in CAPABILITIES}
    missing = missing_image_extra()
    if missing:
        return {k: {"value": "not checked here", "detail": missing} for k in CAPABILITIES}
    denoiser = denoiser_for(exp)
    if denoiser is None:
        return {k: {"value": "not checked here", "detail": "no tiny stand-in of this task's model"} for k in CAPABILITIES}
    return measure(Probed(
        model=train_image_probe(exp, denoiser, seed=1).model,
        outputs=denoiser.run,
        fresh_base=denoiser.build,
        train=lambda seed: train_image_probe(exp, denoiser, seed=seed).model,
        quantized=lambda: {"value": "not checked here", "detail": "peftbench's image tasks load no quantized base"},
    ))


def _probe_ids(tokenizer) -> torch.Tensor:
    return tokenizer("Question: Tom has 3 apples and buys 4 more. How many now?\nAnswer:", return_tensors="pt")["input_ids"]


def _fresh_text_base(probe):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(probe.cfg.model_id)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def _compare(what: str, got: torch.Tensor, want: torch.Tensor) -> dict:
    rel = _rel(got, want)
    return {"value": "yes" if rel <= RTOL else "no", "detail": f"{what}: relative difference {rel:.1e}"}


def _merge(probed: Probed, tuned, base) -> dict:
    effect = _rel(tuned, base)
    if effect <= RTOL:
        return {"value": "unclear", "detail": f"the short run left outputs unchanged ({effect:.1e}): nothing to merge"}
    try:
        merged = probed.model.merge_and_unload()
    except Exception as err:  # no merge for this method (prompt learning, activation-based methods...)
        return {"value": "no", "detail": one_line(err)}
    rel = _rel(_eval(probed.outputs, merged), tuned)
    ok = rel <= max(RTOL, MERGE_SHARE * effect)
    return {"value": "yes" if ok else "no",
            "detail": f"merged vs tuned: relative difference {rel:.1e} (tuning moved outputs by {effect:.1e})"}


def _switch(probed: Probed) -> dict:
    from peft import PeftModel

    try:
        with tempfile.TemporaryDirectory(prefix="peftbench-switch-") as tmp:
            alone = {}
            for name, seed in (("a", 2), ("b", 3)):
                model = probed.train(seed)
                alone[name] = _eval(probed.outputs, model)
                model.save_pretrained(f"{tmp}/{name}")
            model = PeftModel.from_pretrained(probed.fresh_base(), f"{tmp}/a", adapter_name="a")
            model.load_adapter(f"{tmp}/b", adapter_name="b")
            switched = {}
            for name in ("b", "a"):
                model.set_adapter(name)
                switched[name] = _eval(probed.outputs, model)
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




def save_matrix(results_dir: Path | str, task: str, matrix: dict[str, dict]) -> Path:
    from importlib.metadata import version

    from peftbench.records.results import atomic_write_json, capabilities_path

    path = capabilities_path(results_dir, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    libs = {name: version(name) for name in ("peft", "transformers", "torch")}
    atomic_write_json(path, {"task": task, "measured_on": "tiny stand-in", "versions": libs, "experiments": matrix})
    return path


def experiment_capabilities(exp: Experiment, refresh: bool = False) -> dict:
    """The cached capability answers of one experiment."""
    from peftbench.methods.cache import cached
    from peftbench.methods.coverage import check_payload
    from peftbench.tasks import task_spec

    if task_spec(exp.task).kind == "text":
        payload = {**check_payload(exp), "bitsandbytes": importlib.util.find_spec("bitsandbytes") is not None}
        return cached("capabilities", payload, lambda: text_capabilities(exp), refresh)
    return cached("capabilities", check_payload(exp), lambda: image_capabilities(exp), refresh)
