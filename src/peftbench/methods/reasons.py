"""Why a peft type has no experiment for a task: one line each, found by trying it (see
experiments/README.md). Keys are `PeftType` values; a type missing here gets GENERIC."""

from __future__ import annotations

# Types that cannot train a decoder-only LLM on a single task through peftbench's loop.
TEXT = {
    "MULTITASK_PROMPT_TUNING": "needs task ids: every forward takes a `task_ids` tensor, and a task here is one task",
    "POLY": "needs task ids: routes between skills by a `task_ids` tensor on every forward; a task here is one task",
    "XLORA": "mixes already-trained LoRA adapters (`adapters` = their paths); there is nothing to mix from scratch",
    "CPT": "needs a per-example `input_type_mask` (which tokens are template, input, output) that the data pipeline "
           "does not produce; without it every label is masked and the loss is NaN",
}

# Image tasks: whole-model prompt learning has no counterpart in a denoiser (no token sequence to prefix).
IMAGE_PROMPT_LEARNING = "prompt learning prepends virtual tokens to a language model's input; a denoiser has none"
IMAGE = {
    "PROMPT_TUNING": IMAGE_PROMPT_LEARNING,
    "MULTITASK_PROMPT_TUNING": IMAGE_PROMPT_LEARNING,
    "P_TUNING": IMAGE_PROMPT_LEARNING,
    "PREFIX_TUNING": IMAGE_PROMPT_LEARNING,
    "CPT": IMAGE_PROMPT_LEARNING,
    "CARTRIDGE": IMAGE_PROMPT_LEARNING,
    "ADAPTION_PROMPT": "adapts a language model's attention with learned prompts (Llama/Mistral-style decoders only)",
    "TRAINABLE_TOKENS": "trains rows of a token embedding; a denoiser has no token embedding",
    "XLORA": TEXT["XLORA"],
    "POLY": TEXT["POLY"],
}

# Reasons that hold for one task only (its model's structure), over the kind's list above.
BY_TASK = {
    "minigen": {
        "SHADOW": "rides a decoder's stack of blocks (the shadow state follows the block loop); the minigen "
                  "UNet has no such stack for it to find",
    },
}

# Tasks that copy the reference suite's configs ship no type the reference has no config for.
COPIES = "the reference suite has no config for it, and this task ships copies of the reference's"
TASK_DEFAULT = {"metamathqa": COPIES, "imagegen": COPIES}

GENERIC = "not shipped: no experiment folder for this task yet (a type this list does not know, e.g. new in this peft)"


def reason(peft_type: str, kind: str, task: str = "") -> str:
    if peft_type in BY_TASK.get(task, {}):
        return BY_TASK[task][peft_type]
    return (IMAGE if kind == "image" else TEXT).get(peft_type, TASK_DEFAULT.get(task, GENERIC))
