"""What the meta-device preflight of an adapter config costs, next to the model load it can spare.

Usage: python benchmarks/adapter_preflight.py [--repeats 3] [experiment folders...]

For each experiment (default: minimath's lora, ia3, fourierft and prompt_tuning defaults) on the
offline default model (SmolLM2-135M, converted safetensors folder in the cache), in one process after
the imports and a warm-up: the preflight (config.json -> model on the meta device -> adapter applied
there) and the real weight load `peftbench.text.models.load_model` on CPU, alternating, `--repeats` times;
prints the medians and their ratio. Both share the imports (torch, transformers, peft), not counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ["lora/default", "ia3/default", "fourierft/default", "prompt_tuning/default"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("experiments", nargs="*")
    args = parser.parse_args()
    started = time.perf_counter()
    import torch

    from peftbench.system.logs import quiet_transformers
    from peftbench.planning.plan import plan_run
    from peftbench.text.models import load_model, resolve_model

    from preflight import meta_causal_lm, preflight  # benchmarks/preflight.py, beside this script

    quiet_transformers()
    imports = time.perf_counter() - started
    folders = [Path(p) for p in args.experiments] or [ROOT / "experiments" / "minimath" / e for e in DEFAULTS]
    first = plan_run(folders[0])
    location, _ = resolve_model(first.cfg.model_id)
    print(f"setup: model {first.cfg.model_id} ({location}), dtype {first.cfg.dtype}, CPU; "
          f"{args.repeats} repeats, medians; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, python {platform.python_version()}; imports {imports:.1f} s (not counted)")
    load_model(first.cfg, torch.device("cpu"))  # warm-up: page cache, lazy imports
    for folder in folders:
        planned = plan_run(folder)
        raw = planned.experiment.peft_config
        checks, loads, found = [], [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            found = preflight(raw, meta_causal_lm(location), str(folder / "adapter_config.json"))
            checks.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model, _, _ = load_model(planned.cfg, torch.device("cpu"))
            loads.append(time.perf_counter() - t0)
            del model
        check, load = statistics.median(checks), statistics.median(loads)
        print(f"{planned.experiment.full_name:24} preflight {check:6.2f} s   model load {load:6.2f} s   "
              f"preflight/load {check / load:5.2f}   adapter params {found.trainable if found else None}")


if __name__ == "__main__":
    main()
