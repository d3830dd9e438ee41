"""Our records load in the reference suite's app: the same key accesses its loader makes.

The key paths below are those `method_comparison/processing.py` of huggingface/peft (commit 5d602fd)
reads from each result file, with the column type it casts each one to (`astype(int)` fails on a
missing number, `pd.to_datetime` on a malformed date). They are re-stated here, not imported, so a
change on either side shows up as a failing test. `app.py` reads four more keys of an image run's
train_config (`dataset_id`, `dataset_split`, `image_column`, `instance_prompts`), all with `.get`,
so their absence shows no gallery but breaks nothing.
"""

import json
import subprocess

import jsonschema
import pandas as pd
import pytest
import yaml

from peftbench import reference_compat
from peftbench.export import export
from peftbench.pipeline import execute
from peftbench.pipeline.record import build_record
from peftbench.pipeline.state import Run
from peftbench.plan import plan_run
from peftbench.progress import Reporter
from peftbench.reference_compat import final_aliases
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
        if cast in (int, float):
            value = cast(value)  # raises on None, like astype(int) on a missing number
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
    run = Run(plan_run(make_experiment(adapter=LORA), overrides=tiny_params), task=_NoData())
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
