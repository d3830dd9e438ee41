"""Every shipped experiment must run: minimath ones for 2 steps on the tiny model, and every
metamathqa config must at least validate (its model needs a GPU and the Hub)."""

from pathlib import Path

import pytest

from conftest import TINY_PARAMS
from peftbench.experiment import discover
from peftbench.progress import Reporter
from peftbench.pipeline import execute
from peftbench.plan import plan_run

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
MINIMATH = discover(EXPERIMENTS, "minimath")
METAMATHQA = discover(EXPERIMENTS, "metamathqa")


# The list: LoRA and its variants (DoRA, rsLoRA, LoRA-FA, LoRA+) live under `lora/` as in the
# reference suite; every other method has its own folder.
REQUIRED_METHODS = {"lora", "loha", "lokr", "adalora", "ia3", "oft", "boft", "vera", "fourierft",
                    "prompt_tuning", "prefixtuning", "ln_tuning", "full-finetuning"}
REQUIRED_LORA_VARIANTS = {"dora", "rslora", "fa"}  # lora-fa here, lorafa in the reference


def test_required_methods_are_shipped_for_both_tasks():
    for found in (MINIMATH, METAMATHQA):
        assert REQUIRED_METHODS <= {e.method for e in found}
        lora_names = " ".join(e.name for e in found if e.method == "lora")
        assert all(variant in lora_names for variant in REQUIRED_LORA_VARIANTS), lora_names


@pytest.mark.parametrize("exp", MINIMATH, ids=lambda e: e.full_name)
def test_minimath_experiment_smoke_runs_on_tiny_model(exp, tiny_model_dir, tmp_path):
    run = plan_run(exp.path, overrides=TINY_PARAMS(tiny_model_dir))
    outcome = execute(run, tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    final = outcome.record.train_info.metrics[-1]
    assert {"test accuracy", "forgetting", "drift"} <= set(final)


@pytest.mark.parametrize("exp", METAMATHQA, ids=lambda e: e.full_name)
def test_metamathqa_experiment_validates(exp):
    run = plan_run(exp.path)
    assert run.cfg.model_id == "meta-llama/Llama-3.2-3B"
    assert run.cfg.loss_on == "all"
