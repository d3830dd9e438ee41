"""Which peft methods peftbench ships per task, and what each can do, measured on tiny stand-ins.

- `reasons`: why a peft type has no experiment for a task (data, one line each).
- `standins`: the tiny random-init models the checks run on (a Llama, a FLUX.2-klein transformer).
- `probe`: does a text experiment train (a couple of steps, finite loss, weights move, it generates)?
- `image_probe`: the same for image experiments, on minigen's UNet or the FLUX.2 stand-in.
- `capabilities`: merge, several adapters on one base, adapter off = base, quantized base, layer types.
- `coverage`: one row per PeftType of the installed peft (+ full fine-tuning) for a task, and the
  full-length runs of its experiments beside the untrained base (`--results`).

Every check is cached under `cache_dir()/method-checks`, keyed by the versions of peft/transformers/torch
and the experiment's configs, so a second `peftbench methods` is instant and a peft upgrade re-checks.
"""
