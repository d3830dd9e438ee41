"""`peftbench methods`: coverage rows from the installed peft, the cached training check, the capability
matrix measured on the tiny stand-in, and the CLI."""

import json
import importlib.util
from pathlib import Path

import pytest
from peft import PeftType
from typer.testing import CliRunner

from peftbench.cli import app
from peftbench.planning.experiment import load_experiment
from peftbench.methods import coverage as cov
from peftbench.methods import reasons
from peftbench.methods.capabilities import image_capabilities, text_capabilities
from peftbench.methods.probe import text_train_check

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_minimath_lists_every_installed_type_and_full_finetuning():
    rows = cov.coverage("minimath", EXPERIMENTS, check=False)
    assert [r.peft_type for r in rows] == [t.value for t in PeftType] + [cov.FULL]
    shipped = [r for r in rows if r.experiments and r.peft_type != cov.FULL]
    assert len(shipped) >= 36
    assert all(r.detail for r in rows if not r.experiments), "every type not shipped needs a reason"


def test_a_type_of_a_future_peft_shows_as_not_shipped(monkeypatch):
    monkeypatch.setattr(cov, "installed_types", lambda: ["LORA", "SOMETHING_NEW"])
    rows = {r.peft_type: r for r in cov.coverage("minimath", EXPERIMENTS, check=False)}
    assert rows["SOMETHING_NEW"].experiments == []
    assert rows["SOMETHING_NEW"].detail == reasons.GENERIC


def test_a_type_shipped_elsewhere_says_where():
    rows = {r.peft_type: r for r in cov.coverage("metamathqa", EXPERIMENTS, check=False)}
    assert not rows["SHADOW"].experiments
    assert rows["SHADOW"].detail.startswith(reasons.COPIES) and "minimath" in rows["SHADOW"].detail


def test_training_check_is_cached(monkeypatch):
    calls = []
    monkeypatch.setattr("peftbench.methods.probe.text_train_check", lambda exp: calls.append(exp) or {"trains": True, "error": ""})
    exp = load_experiment(EXPERIMENTS / "minimath" / "lora" / "default")
    assert cov.train_check(exp)["trains"] and cov.train_check(exp)["trains"]
    assert len(calls) == 1
    cov.train_check(exp, refresh=True)
    assert len(calls) == 2


def test_a_method_that_cannot_train_here_is_reported(make_experiment):
    # Poly routes by task ids that a single-task loop never passes: the check must say no, with why.
    exp = load_experiment(make_experiment(method="poly", adapter={"peft_type": "POLY", "r": 4}))
    result = text_train_check(exp)
    assert result["trains"] is False
    assert "task_ids" in result["error"]


def test_a_config_too_large_for_the_standin_is_not_checked(make_experiment):
    exp = load_experiment(make_experiment(method="c3a", adapter={"peft_type": "C3A", "block_size": 256}))
    result = text_train_check(exp)
    assert result["trains"] is None
    assert "does not fit" in result["error"]


QUANTIZED = "yes" if importlib.util.find_spec("bitsandbytes") else "not checked here"


@pytest.mark.parametrize("name, expected", [
    ("lora/default", {"merge": "yes", "switch": "yes", "base": "yes", "quantized": QUANTIZED, "layers": "Linear"}),
    # PiSSA moves the principal part of W into the adapter: disabling it leaves the residual, not the base.
    ("lora/pissa", {"merge": "yes", "switch": "no", "base": "no"}),
    ("prompt_tuning/default", {"merge": "no", "switch": "yes", "base": "yes", "layers": "virtual tokens"}),
])
def test_capabilities_measured_on_the_tiny_standin(name, expected):
    found = text_capabilities(load_experiment(EXPERIMENTS / "minimath" / name))
    assert {k: found[k]["value"] for k in expected} == expected, found


@pytest.mark.parametrize("task, name, expected", [
    ("minigen", "lora/r4-conv", {"merge": "yes", "switch": "yes", "base": "yes", "layers": "Conv2d, Linear"}),
    ("minigen", "lily/default", {"merge": "no", "switch": "yes", "base": "yes"}),  # peft has no merge for Lily
    # IA3's initialisation is fixed (ones): two adapters differ only through what they were trained on.
    ("imagegen", "ia3/flux2-klein-default", {"merge": "yes", "switch": "yes", "base": "yes"}),
    # KaSA rescales the base weight's singular values: disabling the adapter leaves that changed base.
    ("imagegen", "lora/flux2-klein-rank64-kasa", {"base": "no"}),
])
def test_image_capabilities_measured_on_the_task_standin(task, name, expected):
    found = image_capabilities(load_experiment(EXPERIMENTS / task / name))
    assert {k: found[k]["value"] for k in expected} == expected, found
    assert found["quantized"]["value"] == "not checked here"


def test_cli_methods_lists_types_without_checks():
    result = CliRunner().invoke(app, ["methods", "--task", "minimath", "--no-check",
                                      "--experiments-dir", str(EXPERIMENTS)])
    assert result.exit_code == 0, result.output
    assert "MULTITASK_PROMPT_TUNING" in result.output and "needs task ids" in result.output
    assert "FULL_FINETUNING" in result.output


def test_cli_methods_unknown_task_is_one_line():
    result = CliRunner().invoke(app, ["methods", "--task", "nosuch", "--experiments-dir", str(EXPERIMENTS)])
    assert result.exit_code == 2
    assert "nosuch" in result.output and "Traceback" not in result.output


def test_capabilities_saved_into_a_results_folder(make_experiment, tmp_path):
    from peftbench.records.results import capabilities_path

    make_experiment(method="lora", name="default", adapter={"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"],
                                                           "task_type": "CAUSAL_LM"})
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["methods", "--task", "minimath", "--capabilities", "--save-to", str(out),
                                      "--experiments-dir", str(tmp_path / "experiments")])
    assert result.exit_code == 0, result.output
    saved = json.loads(capabilities_path(out, "minimath").read_text())
    assert saved["experiments"]["lora/default"]["merge"]["value"] == "yes"


def test_save_to_needs_capabilities(tmp_path):
    result = CliRunner().invoke(app, ["methods", "--task", "minimath", "--no-check", "--save-to", str(tmp_path)])
    assert result.exit_code == 2 and "--save-to: only with --capabilities" in result.output


def test_image_checks_without_diffusers_say_what_to_install(monkeypatch):
    """A train-only install (no [image] extra): image experiments are "not checked", never a crash,
    and the cache key (which names diffusers' version) still builds."""
    import importlib.metadata
    import importlib.util

    from peftbench.methods import cache
    from peftbench.methods.image_probe import image_train_check

    real_find, real_version = importlib.util.find_spec, importlib.metadata.version

    def no_diffusers_version(name):
        if name == "diffusers":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "diffusers" else real_find(name, *a))
    monkeypatch.setattr(cache, "version", no_diffusers_version)
    exp = load_experiment(EXPERIMENTS / "minigen" / "lora" / "r4")
    result = image_train_check(exp)
    assert result["trains"] is None and "pip install" in result["error"] and "diffusers" in result["error"]
    assert image_capabilities(exp)["merge"]["value"] == "not checked here"
    assert cache.check_key("train", {"x": 1})


def test_results_add_each_full_run_and_flag_those_not_above_the_untrained_base(tmp_path):
    from peftbench.methods.coverage import full_runs
    from test_analysis_load import write_run

    results = tmp_path / "results"
    write_run(results, "lora/default", acc=0.36)
    write_run(results, "ia3/default", acc=0.05)
    write_run(results, "vera/default", acc=0.07, forgetting=0.004)
    write_run(results, "lora/pissa", acc=0.05, forgetting=3.95)
    base = write_run(results, "base/zero-shot", acc=0.07)
    record = json.loads(base.read_text())
    record["run_info"]["train_config"]["skip_training"] = True
    base.write_text(json.dumps(record))
    result = CliRunner().invoke(app, ["methods", "--task", "minimath", "--no-check", "--results", str(results),
                                      "--experiments-dir", str(EXPERIMENTS)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "default 36.0%" in result.output and "dora not run" in result.output
    assert "untrained base 7.0%" in result.output and "ia3/default (last train loss 0.38)" in result.output
    runs = full_runs(results, "minimath")
    assert runs.below_base(["ia3/default"]) == ("ia3/default (last train loss 0.38): test accuracy at or below the "
                                                "untrained base's (7.0%) in its full-length run (one seed); "
                                                "`peftbench tune` searches its learning rate")
    assert runs.below_base(["lora/default", "lora/dora"]) == ""
    # What the run's forgetting says: its outputs stayed the base's (at the base's accuracy), or left them far.
    assert runs.below_base(["vera/default"]).startswith(
        "vera/default (forgetting +0.004: barely moved from the base, as a too-low learning rate does; "
        "last train loss 0.38)")
    assert runs.below_base(["lora/pissa"]).startswith(
        "lora/pissa (forgetting +3.95: moved far from the base, as a too-high learning rate does; last train loss 0.38)")


def test_results_must_be_a_folder(tmp_path):
    result = CliRunner().invoke(app, ["methods", "--no-check", "--results", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "--results" in result.output and "no such folder" in result.output
