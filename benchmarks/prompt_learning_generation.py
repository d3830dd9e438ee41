"""Why prompt tuning's test generation is slow: positions the decoder processes per generated token, time
per generate call, and whether cached generation matches a greedy loop without a cache.

Side by side in one run on the real offline model (SmolLM2-135M-Instruct, float32, CPU): the base model,
LoRA (lora/default) and prompt tuning (prompt_tuning/default), untrained (adapters at their initial
values; the mechanism, not the accuracy, is measured). Usage:
    python benchmarks/prompt_learning_generation.py [--problems 10] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from peftbench.adapters.build import wrap_model
from peftbench.planning.experiment import load_experiment
from peftbench.planning.plan import plan_run
from peftbench.tasks.minimath import problems as minimath_data
from peftbench.text.data import format_prompt
from peftbench.text.models import load_model

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments" / "minimath"


def build(name: str | None):
    run = plan_run(EXPERIMENTS / (name or "lora/default"))
    model, tokenizer, _ = load_model(run.cfg, torch.device("cpu"))
    if name:
        exp = load_experiment(EXPERIMENTS / name)
        torch.manual_seed(0)
        model = wrap_model(model, exp.peft_config, name, run.cfg.autocast_adapter_dtype)
        if exp.peft_config["peft_type"] == "PROMPT_TUNING":
            # Random-init virtual tokens of the embedding's scale, so outputs depend on them.
            model.prompt_encoder["default"].embedding.weight.data.normal_(0, 0.05)
    return model.eval(), tokenizer, run.cfg


def positions_per_step(model) -> list[int]:
    """Sequence length the decoder stack sees at each forward call of one generate()."""
    seen: list[int] = []
    inner = (model.get_base_model() if hasattr(model, "get_base_model") else model).model

    def hook(module, args, kwargs):
        x = kwargs.get("inputs_embeds") if kwargs.get("inputs_embeds") is not None else kwargs.get("input_ids")
        seen.append(int(x.shape[1]))

    return seen, inner.register_forward_pre_hook(hook, with_kwargs=True)


@torch.no_grad()
def greedy_without_cache(model, enc, steps: int) -> torch.Tensor:
    ids, mask = enc["input_ids"], enc["attention_mask"]
    for _ in range(steps):
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -1]
        nxt = logits.argmax(-1, keepdim=True)
        ids, mask = torch.cat([ids, nxt], 1), torch.cat([mask, torch.ones_like(nxt)], 1)
    return ids[:, enc["input_ids"].shape[1]:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args()
    print(f"setup: minimath test problems {args.problems} in one batch, exactly {args.new_tokens} new tokens "
          f"(min_new_tokens = max_new_tokens), greedy, float32, torch threads {torch.get_num_threads()}")
    for name in (None, "lora/default", "prompt_tuning/default"):
        model, tok, cfg = build(name)
        prompts = [format_prompt(cfg.query_template, ex.question)
                   for ex in minimath_data.generate("test", args.problems, seed=0)]
        enc = tok(prompts, return_tensors="pt", padding=True)
        seen, handle = positions_per_step(model)
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                 do_sample=False, pad_token_id=tok.pad_token_id)
        seconds = time.perf_counter() - start
        handle.remove()
        cached = out[:2, enc["input_ids"].shape[1]:][:, :8]
        small = {k: v[:2] for k, v in enc.items()}
        reference = greedy_without_cache(model, small, 8)
        print(f"{name or 'base'}: generate {seconds:.1f} s; decoder positions per call: first {seen[0]}, "
              f"then {sorted(set(seen[1:]))}; first 8 tokens of 2 rows, cached generate == greedy loop "
              f"without cache: {torch.equal(cached, reference)}")


if __name__ == "__main__":
    main()
