"""Train an experiment for a couple of steps on the tiny stand-in of its (text) task's model, through
peftbench's own set-up and training loop, and say whether it trains: finite loss, trainable weights
that move, and generation that runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from peftbench.adapters.build import build_optimizer, build_scheduler, wrap_model
from peftbench.planning.config import TrainConfig
from peftbench.errors import UserError
from peftbench.planning.experiment import ADAPTER_FILE, Experiment
from peftbench.telemetry.measure import MemorySampler
from peftbench.methods.standins import DEEP_LAYERS, tiny_llama
from peftbench.tasks import task_spec
from peftbench.tasks.minimath import problems as minimath_data
from peftbench.text.data import encode_example, text_batches
from peftbench.text.lm_loss import causal_lm_loss
from peftbench.text.models import load_model
from peftbench.training.hooks import Hooks, Meters, TrainState
from peftbench.training.sft import train

# The smallest run that still goes through every part of a real one.
PROBE_OVERRIDES = {
    "max_steps": 2,
    "eval_steps": 2,
    "batch_size": 2,
    "batch_size_eval": 2,
    "max_seq_length": 64,
    "generation_kwargs": {"max_new_tokens": 2, "max_length": 96},
}
CPU = torch.device("cpu")


@dataclass
class TextProbe:
    """A stand-in model after a short training run of one experiment."""

    model: torch.nn.Module
    tokenizer: object
    cfg: TrainConfig
    loss: float
    trainable: int
    moved: bool
    layers: int


def probe_examples(seed: int = 0):
    # A few minimath problems for every text task: the checks are about the method on the model, and
    # other tasks' data (e.g. MetaMathQA) may need the Hub.
    return minimath_data.generate("train", 4, seed=seed)


def probe_config(exp: Experiment, layers: int, seed: int = 0, extra: dict | None = None) -> TrainConfig:
    spec = task_spec(exp.task)
    overrides = {**PROBE_OVERRIDES, "model_id": str(tiny_llama(layers)), "seed": seed, **(extra or {})}
    return exp.train_config(spec.defaults, overrides, spec.config_model)


def train_text_probe(exp: Experiment, seed: int = 0, extra: dict | None = None) -> TextProbe:
    """Train on the 2-layer stand-in; a config that names more layers than it has gets the deep one."""
    try:
        return _train(exp, 2, seed, extra)
    except UserError:
        return _train(exp, DEEP_LAYERS, seed, extra)


def _train(exp: Experiment, layers: int, seed: int, extra: dict | None) -> TextProbe:
    torch.manual_seed(seed)
    cfg = probe_config(exp, layers, seed, extra)
    model, tokenizer, _ = load_model(cfg, CPU)
    model = wrap_model(model, exp.peft_config, str(exp.path / ADAPTER_FILE), cfg.autocast_adapter_dtype)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    data = [encode_example(tokenizer, cfg.query_template, ex, cfg.max_seq_length, cfg.loss_on)
            for ex in probe_examples(seed)]
    batches = text_batches(data, cfg.batch_size, seed, tokenizer.pad_token_id, CPU)
    state = train(model, optimizer, scheduler, batches, causal_lm_loss, cfg, CPU, TrainState(),
                  Meters(MemorySampler(CPU)), Hooks(validate=dict))
    moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, params))
    return TextProbe(model, tokenizer, cfg, state.last_loss, sum(p.numel() for p in params), moved, layers)


def text_train_check(exp: Experiment) -> dict:
    """{"trains": bool | None, ...}: trains = finite loss, some trainable weight moved, and generation
    runs; None = not checked, because the config does not fit the stand-in's layer shapes."""
    from peftbench.text.evaluate import generate_answers

    try:
        probe = train_text_probe(exp)
        answers = generate_answers(probe.model, probe.tokenizer, probe.cfg, probe_examples()[:2])
    except UserError as err:  # peft refused the config for the stand-in's shapes: sized for a larger model
        return {"trains": None, "error": f"does not fit the tiny stand-in: {err}"}
    except Exception as err:  # any other failure is the answer: the method does not train here
        return {"trains": False, "error": one_line(err)}
    ok = math.isfinite(probe.loss) and probe.moved and len(answers) == 2
    why = "" if ok else ("loss not finite" if not math.isfinite(probe.loss) else "no trainable weight moved")
    return {"trains": ok, "loss": probe.loss, "trainable": probe.trainable, "moved": probe.moved,
            "standin_layers": probe.layers, "error": why}


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
