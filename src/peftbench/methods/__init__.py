"""Which peft methods peftbench ships per task, and what each can do, measured on tiny stand-ins.

- `reasons`: why a peft type has no experiment for a task (data, one line each).
- `standins`: the tiny random-init models the checks run on.
- `probe`: does an experiment train (a couple of steps, finite loss, weights move, it generates)?
- `capabilities`: merge, several adapters on one base, quantized base, layer types.
- `coverage`: one row per PeftType of the installed peft (+ full fine-tuning) for a task.

Every check is cached under `cache_dir()/method-checks`, keyed by the versions of peft/transformers/torch
and the experiment's configs, so a second `peftbench methods` is instant and a peft upgrade re-checks.
"""
