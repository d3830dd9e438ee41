"""Our records load in the reference suite's app: the same key accesses its loader makes.

The key paths below are those `method_comparison/processing.py` of huggingface/peft (commit 5d602fd)
reads from each result file, with the column type it casts each one to (`astype(int)` fails on a
missing number, `pd.to_datetime` on a malformed date). They are re-stated here, not imported, so a
change on either side shows up as a failing test. `app.py` reads four more keys of an image run's
train_config (`dataset_id`, `dataset_split`, `image_column`, `instance_prompts`), all with `.get`,
so their absence shows no gallery but breaks nothing.
"""

import json
from pathlib import Path
import subprocess

import jsonschema
import pandas as pd
import pytest
import yaml

from peftbench.records import reference_compat
from peftbench.export import export
from peftbench.pipeline import execute
from peftbench.pipeline.record import build_record
from peftbench.pipeline.state import RunState
from peftbench.planning.plan import plan_run
from peftbench.telemetry.progress import Reporter
from peftbench.records.reference_compat import final_aliases
from test_analysis_load import REFERENCE, needs_reference
from test_export import EVAL_RESULTS_SCHEMA, check_lm_eval

FINAL = "final"  # stands for train_info.metrics[-1]
# (path, cast): cast None = only read (json.dumps / truthiness), "str" = astype("string") (None allowed).
COMMON = [
    (("run_info", "peft_config"), None),
    (("train_info", "status"), None),
    (("run_info", "experiment_name"), "str"),
    (("run_info", "train_config", "model_id"), "str"),
    (("run_info", "train_config"), None),
    (("train_info", "accelerator_memory_reserved_avg"), int),
    (("train_info", "accelerator_memory_max"), int),
    (("train_info", "accelerator_memory_reserved_99th"), int),
    (("run_info", "total_time"), float),
    (("train_info", "train_time"), float),
    (("train_info", "file_size"), int),
    (("train_info", "num_trainable_params"), int),
    ((FINAL, "train loss"), float),
    ((FINAL, "train samples"), int),
    (("meta_info", "package_info", "peft-version"), "str"),
    (("run_info", "peft_branch"), "str"),
    (("meta_info", "package_info", "transformers-version"), "str"),
    (("meta_info", "package_info", "datasets-version"), "str"),
    (("meta_info", "package_info", "torch-version"), "str"),
    (("meta_info", "package_info"), None),
    (("meta_info", "system_info"), None),
    (("run_info", "created_at"), "datetime"),
]
BY_TASK = {
    "MetaMathQA": [
        ((FINAL, "test accuracy"), float),
        ((FINAL, "train total tokens"), int),
        (("meta_info", "package_info", "bitsandbytes-version"), "str"),
    ],  # `forgetting` is read with .get (default 123), so it is optional
    "image-gen": [
        ((FINAL, "test dino_similarity"), float),
        (("meta_info", "package_info", "diffusers-version"), "str"),
    ],  # `drift` likewise
}


def _follow(record: dict, path: tuple) -> object:
    node = record["train_info"]["metrics"][-1] if path[0] == FINAL else record[path[0]]
    for key in path[1:]:
        node = node[key]
    return node


def read_like_reference(record: dict, task_name: str) -> dict:
    """The row the reference app builds from a successful record; KeyError/TypeError/ValueError where
    its loader would fail."""
    assert record["train_info"]["status"] == "success"
    row = {}
    for path, cast in COMMON + BY_TASK[task_name]:
        value = _follow(record, path)
        if cast is int:
            value = int(value)  # raises on None, like astype(int) on a missing number
        elif cast is float:
            value = float("nan") if value is None else float(value)  # astype(float) takes None as NaN
        elif cast == "str":
            assert value is None or isinstance(value, str), (path, value)
        elif cast == "datetime":
            value = pd.to_datetime(value)
        row[".".join(path)] = value
    return row


@needs_reference
@pytest.mark.parametrize("task_name", ["MetaMathQA", "image-gen"])
def test_the_key_list_reads_the_reference_files_themselves(task_name):
    # Guards the list above: a key the reference does not write would fail here.
    files = sorted((REFERENCE / task_name).glob("*.json"))
    assert files
    read = 0
    for path in files:
        record = json.loads(path.read_text())
        if record["train_info"]["status"] == "success":
            read_like_reference(record, task_name)
            read += 1
    assert read >= 5


LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


def test_a_run_record_reads_like_a_reference_record_and_exports(make_experiment, tiny_params, tmp_path):
    outcome = execute(plan_run(make_experiment(adapter=LORA), overrides=tiny_params),
                      tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    record = json.loads(outcome.path.read_text())
    row = read_like_reference(record, "MetaMathQA")
    assert row["run_info.experiment_name"] == "lora/t"
    assert row["final.test accuracy"] == record["train_info"]["metrics"][-1]["test accuracy"]
    # A released peft wheel has no branch; the reference would have written its checkout's branch.
    assert "peft_branch" in record["run_info"]
    assert {f"{p}-commit-hash" for p in reference_compat.COMMIT_PACKAGES} <= record["meta_info"]["package_info"].keys()
    # The reference loader reads every *.json of one folder: our sidecars must not look like records.
    assert sorted(p.name for p in outcome.path.parent.glob("*.json")) == ["lora--t.json"]

    # The same real record (with its predictions sidecar) exports in lm-eval's and the Hub's formats.
    done = export([tmp_path / "results"], "lm-eval", tmp_path / "out")
    assert not done.skipped, done.skipped
    result = json.loads(done.written[0].read_text())
    check_lm_eval(result)
    final = record["train_info"]["metrics"][-1]
    assert result["results"]["minimath"]["accuracy,none"] == final["test accuracy"]
    assert result["results"]["minimath"]["sample_len"] == tiny_params["data"]["test_size"]
    assert result["results"]["minimath_gsm8k"]["sample_len"] == tiny_params["data"]["gsm8k_test_size"]
    done = export([tmp_path / "results"], "eval-results", tmp_path / "out", benchmarks=["gsm8k=openai/gsm8k:main"])
    entries = yaml.safe_load(done.written[0].read_text())
    jsonschema.validate(entries, EVAL_RESULTS_SCHEMA)
    assert entries[0]["value"] == final["test accuracy gsm8k"]


def test_image_similarity_gets_the_dino_name_only_where_it_is_dino():
    final = {"step": 1, "test similarity": 0.7, "drift": 0.1}
    assert final_aliases("imagegen", final) == {"test dino_similarity": 0.7}
    # minigen's similarity comes from a digit classifier, not DINOv2: no reference name for it.
    assert final_aliases("minigen", final) == {}
    assert final_aliases("imagegen", {**final, "test dino_similarity": 0.5}) == {}  # never overwritten
    assert final_aliases("imagegen", {"step": 1}) == {}


def test_the_record_build_adds_the_dino_name_to_the_final_row_only(make_experiment, tiny_params):
    # An imagegen-named run's record as the pipeline builds it, without training: the alias is part
    # of the typed record, in the final row and not in the window rows.
    run = RunState(plan_run(make_experiment(adapter=LORA), overrides=tiny_params), task=_NoData())
    run.plan = _Renamed(run.plan, "imagegen")
    run.state.metrics.append({"step": 1, "valid similarity": 0.6})
    run.final["test similarity"] = 0.7
    record = build_record(run, "success", None)
    assert record.final_metrics()["test dino_similarity"] == 0.7
    assert "test dino_similarity" not in record.train_info.metrics[0]
    assert "peft_branch" in record.to_json()["run_info"]  # written even when null (a released peft)


class _NoData:
    def dataset_info(self, cfg):
        return {}


class _Renamed:
    """A plan whose task name is `task` (the record build reads only names and config from it)."""

    def __init__(self, plan, task):
        self._plan, self.task = plan, task

    def __getattr__(self, name):
        return getattr(self._plan, name)


def _git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def test_branch_and_commit_come_from_a_source_checkout(tmp_path, monkeypatch):
    checkout = tmp_path / "peft-src" / "peft"
    checkout.mkdir(parents=True)
    (checkout / "__init__.py").write_text("")
    _git(checkout.parent, "init", "-q", "-b", "my-feature")
    _git(checkout.parent, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
    monkeypatch.setattr(reference_compat, "_package_dir", lambda name: checkout if name == "peft" else None)
    assert reference_compat.peft_branch() == "my-feature"
    assert len(reference_compat.commit_hashes()["peft-commit-hash"]) == 40
    assert reference_compat.commit_hashes()["torch-commit-hash"] is None
    _git(checkout.parent, "checkout", "-q", "--detach")
    assert reference_compat.peft_branch() is None
    # An installed wheel (site-packages) is never taken for a checkout, even inside a git repo.
    wheel = tmp_path / "peft-src" / "site-packages" / "peft"
    wheel.mkdir(parents=True)
    monkeypatch.setattr(reference_compat, "_package_dir", lambda name: wheel)
    assert reference_compat.peft_branch() is None


def test_a_baseline_record_reads_like_a_reference_record(make_experiment, tiny_params, tmp_path):
    folder = make_experiment(method="base", name="zero-shot", params={**tiny_params, "skip_training": True})
    outcome = execute(plan_run(folder), tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    row = read_like_reference(json.loads(outcome.path.read_text()), "MetaMathQA")
    assert row["final.train total tokens"] == 0 and row["train_info.accelerator_memory_max"] == 0


def test_every_committed_final_record_reads_like_a_reference_record():
    """What the reference suite's app would load from published/: every successful final record."""
    root = Path(__file__).resolve().parents[1] / "published"
    records = [p for p in sorted(root.glob("*/minimath/*.json"))]
    assert records
    for path in records:
        record = json.loads(path.read_text())
        if record["train_info"]["status"] == "success":
            read_like_reference(record, "MetaMathQA")


def _reference_layout(tmp_path: Path, defaults: dict | None = None) -> Path:
    """The reference suite's own layout: MetaMathQA/default_training_params.json beside experiments/."""
    suite = tmp_path / "MetaMathQA"
    folder = suite / "experiments" / "lora" / "llama-3.2-3B-rank32"
    folder.mkdir(parents=True)
    shipped = Path(__file__).resolve().parents[1] / "experiments" / "metamathqa" / "lora" / "llama-3.2-3B-rank32"
    (folder / "adapter_config.json").write_text((shipped / "adapter_config.json").read_text())
    (folder / "training_params.json").write_text(json.dumps({"optimizer_kwargs": {"lr": 2e-4}}))
    base = {"model_id": "meta-llama/Llama-3.2-3B", "dtype": "bfloat16", "max_steps": 5000, "batch_size": 4,
            "optimizer_kwargs": {"lr": 1e-4, "weight_decay": 0.1}, "init_kv_cache_prefix": None}
    (suite / "default_training_params.json").write_text(json.dumps({**base, **(defaults or {})}))
    return folder


def test_the_reference_suites_own_experiment_folders_run(tmp_path, tiny_params):
    from peftbench.errors import UserError

    folder = _reference_layout(tmp_path)
    own = plan_run(folder)  # its own task, its defaults merged as the suite merges them (a shallow update)
    assert own.task == "metamathqa" and own.experiment.full_name == "lora/llama-3.2-3B-rank32"
    assert own.cfg.model_id == "meta-llama/Llama-3.2-3B" and own.cfg.optimizer_kwargs["lr"] == 2e-4
    offline = plan_run(folder, overrides=tiny_params, task="minimath")  # the offline tier: minimath's defaults
    assert offline.task == "minimath" and offline.cfg.optimizer_kwargs["lr"] == 2e-4
    assert offline.cfg.dtype == "float32" and offline.cfg.model_id == tiny_params["model_id"]
    again = type(offline).from_json(json.loads(json.dumps(offline.to_json())))  # what a sweep's worker does
    assert again.task == "minimath" and again.config_hash == offline.config_hash
    outcome = execute(offline, tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success" and outcome.path.parent.name == "minimath"
    with pytest.raises(UserError, match="'init_kv_cache_prefix' is the reference suite's and not supported"):
        plan_run(_reference_layout(tmp_path / "other", {"init_kv_cache_prefix": "Hi"}))


@needs_reference
def test_the_reference_lora_folder_runs_offline_on_minimath(tmp_path):
    """The issue's own command: `peftbench run MetaMathQA/experiments/lora/llama-3.2-3B-rank32 --task
    minimath --max-steps 2` on the reference suite's files as they are."""
    folder = REFERENCE.parent / "hf-method-comparison" / "configs" / "MetaMathQA" / "experiments" / "lora" / \
        "llama-3.2-3B-rank32"
    if not folder.is_dir():
        folder = REFERENCE / "configs" / "MetaMathQA" / "experiments" / "lora" / "llama-3.2-3B-rank32"
    plan = plan_run(folder, task="minimath", max_steps=2)
    assert plan.task == "minimath" and plan.cfg.max_steps == 2 and plan.experiment.peft_config["r"] == 32
