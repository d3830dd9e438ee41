"""Every shipped text experiment trains: each for 2 steps on the tiny stand-in through peftbench's own
set-up, optimizer and training loop, then generates (methods.probe, the check `peftbench methods`
caches); a few, one per kind of mechanism, also run the whole pipeline; every metamathqa config
validates (its model needs a GPU and the Hub)."""

from pathlib import Path

import pytest

from conftest import TINY_PARAMS
from peftbench.planning.experiment import discover, load_experiment
from peftbench.methods.probe import text_train_check
from peftbench.telemetry.progress import Reporter
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
MINIMATH = discover(EXPERIMENTS, "minimath")
METAMATHQA = discover(EXPERIMENTS, "metamathqa")

# The list: LoRA and its variants (DoRA, rsLoRA, LoRA-FA, LoRA+) live under `lora/` as in the
# reference suite; every other method has its own folder.
REQUIRED_METHODS = {"lora", "loha", "lokr", "adalora", "ia3", "oft", "boft", "vera", "fourierft",
                    "prompt_tuning", "prefixtuning", "ln_tuning", "full-finetuning"}
REQUIRED_LORA_VARIANTS = {"dora", "rslora", "fa"}  # lora-fa here, lorafa in the reference
# The reference's best MetaMathQA methods, and LoRA's variants, each shipped for minimath.
WINNERS = {"lily", "hira", "shira", "frod", "miss", "gralora"}
MINIMATH_LORA = {"dora", "rslora", "rslora-r64", "pissa", "olora", "loraplus", "lora-fa"}
# The whole pipeline for one experiment of each mechanism: weight adapters, AdaLoRA's reallocation
# hook, virtual tokens, a KV prefix, trained embedding rows, full fine-tuning.
PIPELINE = ["lora/default", "adalora/default", "prompt_tuning/default", "prefixtuning/default",
            "trainable_tokens/default", "full-finetuning/default"]


def test_required_methods_are_shipped_for_both_tasks():
    for found in (MINIMATH, METAMATHQA):
        assert REQUIRED_METHODS <= {e.method for e in found}
        lora_names = " ".join(e.name for e in found if e.method == "lora")
        assert all(variant in lora_names for variant in REQUIRED_LORA_VARIANTS), lora_names


def test_reference_winners_and_lora_variants_are_shipped_for_minimath():
    assert WINNERS <= {e.method for e in MINIMATH}
    assert MINIMATH_LORA <= {e.name for e in MINIMATH if e.method == "lora"}


@pytest.mark.parametrize("exp", MINIMATH, ids=lambda e: e.full_name)
def test_minimath_experiment_trains_on_tiny_model(exp):
    result = text_train_check(exp)
    assert result["trains"] is True, result["error"]


@pytest.mark.parametrize("name", PIPELINE)
def test_minimath_experiment_smoke_runs_on_tiny_model(name, tiny_model_dir, tmp_path):
    run = plan_run(EXPERIMENTS / "minimath" / name, overrides=TINY_PARAMS(tiny_model_dir))
    outcome = execute(run, tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    final = outcome.record.train_info.metrics[-1]
    assert {"test accuracy", "forgetting", "drift"} <= set(final)


def test_pipeline_list_names_shipped_experiments():
    for name in PIPELINE:
        load_experiment(EXPERIMENTS / "minimath" / name)


@pytest.mark.parametrize("exp", METAMATHQA, ids=lambda e: e.full_name)
def test_metamathqa_experiment_validates(exp):
    run = plan_run(exp.path)
    assert run.cfg.model_id == "meta-llama/Llama-3.2-3B"
    assert run.cfg.loss_on == "all"
