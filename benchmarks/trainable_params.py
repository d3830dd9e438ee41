"""Trainable / total parameters of minimath experiments on the real offline model, counted right after
wrapping and building the optimizer (LoRA-FA's optimizer freezes A), as experiments/README.md lists them.

Usage: python benchmarks/trainable_params.py [EXPERIMENT_DIR ...]   (default: every minimath experiment)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from peftbench.adapters.build import build_optimizer, wrap_model
from peftbench.planning.experiment import discover
from peftbench.telemetry.measure import count_parameters
from peftbench.planning.plan import plan_run
from peftbench.text.models import load_model

ROOT = Path(__file__).resolve().parents[1]


def main(folders: list[str]) -> None:
    paths = folders or [str(e.path) for e in discover(ROOT / "experiments", "minimath")]
    print("setup: SmolLM2-135M-Instruct (embedded), float32, CPU; wrap_model + build_optimizer, no training")
    for folder in paths:
        start = time.perf_counter()
        run = plan_run(folder)
        model, _, _ = load_model(run.cfg, torch.device("cpu"))
        model = wrap_model(model, run.experiment.peft_config, folder, run.cfg.autocast_adapter_dtype)
        build_optimizer(model, run.cfg.optimizer_type, run.cfg.optimizer_kwargs)
        trainable, total = count_parameters(model)
        print(f"{run.experiment.full_name}: trainable {trainable:,} of {total:,} "
              f"(set-up {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
