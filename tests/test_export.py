"""`peftbench export`: lm-eval results JSON, Hub `.eval_results` YAML and CSV, checked against the
published formats with the readers their own projects ship."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

import pandas as pd
import pytest
import yaml
from pydantic import TypeAdapter
from typer.testing import CliRunner

from peftbench.cli import app
from peftbench.export import export
from test_analysis_load import write_run

runner = CliRunner()
# The validators are test dependencies of the full install ([test] extra); a reader-only install
# (scripts/check_floors.py) runs the rest of this file without them.

# The `.eval_results/*.yaml` format as published in huggingface/hub-docs `eval_results.yaml`
# (commit 242f4a1, 2026-08-22), written out as a JSON schema: a list of entries; `dataset.id`,
# `dataset.task_id` and `value` required; `source.url` required when `source` is given; `date` and
# `notes` strings; no other keys.
EVAL_RESULTS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["dataset", "value"],
        "additionalProperties": False,
        "properties": {
            "dataset": {
                "type": "object",
                "required": ["id", "task_id"],
                "additionalProperties": False,
                "properties": {"id": {"type": "string", "pattern": "^[^/\\s]+/[^/\\s]+$"},
                               "task_id": {"type": "string", "minLength": 1},
                               "revision": {"type": "string"}},
            },
            "value": {"type": "number"},
            "verifyToken": {"type": "string"},
            "date": {"type": "string"},
            "source": {
                "type": "object",
                "required": ["url"],
                "additionalProperties": False,
                "properties": {k: {"type": "string"} for k in ("url", "name", "user", "org")},
            },
            "notes": {"type": "string"},
        },
    },
}


def check_lm_eval(result: dict) -> str:
    """Validate against lm-eval's own result schema (strict types, no unknown keys) and render it with
    lm-eval's own table code; returns the table."""
    pytest.importorskip("lm_eval")
    from lm_eval.result_schema import EvalResults, _EvalConfig
    from lm_eval.utils import make_table

    TypeAdapter(EvalResults).validate_python(result, strict=True)
    assert set(result) <= set(typing.get_type_hints(EvalResults)), set(result) - set(EvalResults.__annotations__)
    assert set(result["config"]) <= set(_EvalConfig.__annotations__)
    for name, entry in result["results"].items():
        assert result["n-samples"][name]["effective"] == entry["sample_len"]
        assert set(result["higher_is_better"][name]) == {k.split(",")[0] for k in entry if "," in k and "_stderr" not in k}
    return make_table(result)


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    write_run(folder, "ia3/default", correct=[True, False, True, True])
    write_run(folder, "lora/default", correct=[False, False, True, False], seed=1)
    write_run(folder, "lora/x", status="cancelled")
    return folder


def _files(folder, pattern):
    return sorted(folder.rglob(pattern))


def test_lm_eval_json_validates_and_renders_with_lm_eval(results, tmp_path):
    done = export([results], "lm-eval", tmp_path / "out")
    assert done.passed_over == 1 and not done.skipped
    paths = _files(tmp_path / "out", "results_*.json")
    # lm-eval's layout: one folder per (sanitised) model, results and samples files side by side
    folders = [p.relative_to(tmp_path / "out").parent.as_posix() for p in paths]
    assert all(f.endswith(("__minimath__ia3--default", "__minimath__lora--default--seed1")) for f in folders)
    assert len(folders) == 2 and not any("/" in f for f in folders)
    samples = sorted(paths[0].parent.glob("samples_minimath_*.jsonl"))
    assert len(samples) == 1 and samples[0].name.removeprefix("samples_minimath_") == paths[0].name.removeprefix("results_").replace(".json", ".jsonl")
    lines = [json.loads(line) for line in samples[0].read_text().splitlines()]
    assert len(lines) == 4 and {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "doc_hash",
                                "prompt_hash", "target_hash", "accuracy"} <= lines[0].keys()
    assert sum(line["accuracy"] for line in lines) / 4 == 0.75  # the items behind the score
    ia3 = json.loads(paths[0].read_text())
    table = check_lm_eval(ia3)
    entry = ia3["results"]["minimath"]
    assert entry["accuracy,none"] == 0.75 and entry["sample_len"] == 4
    assert entry["accuracy_stderr,none"] == pytest.approx(0.25)  # stdev 0.5 over 4 items / sqrt(4)
    assert entry["forgetting,none"] == 0.03 and "forgetting_stderr,none" not in entry
    assert ia3["higher_is_better"]["minimath"] == {"accuracy": True, "forgetting": False, "drift": False}
    assert ia3["config"]["random_seed"] == 0 and "peft=ia3/default" in ia3["config"]["model_args"]
    assert "|minimath|0.1.0|none|0|accuracy|↑|0.75|±|0.25|" in table.replace(" ", "")
    assert json.loads(paths[1].read_text())["config"]["random_seed"] == 1


def test_lm_eval_leaves_out_runs_whose_item_count_is_unknown(tmp_path):
    folder = tmp_path / "results"
    write_run(folder, "ia3/default", acc=0.5)  # no predictions sidecar
    write_run(folder, "lora/default", correct=[True, False], acc=0.9)  # sidecar disagrees with the record
    done = export([folder], "lm-eval", tmp_path / "out")
    assert done.written == []
    assert len(done.skipped) == 2 and all("item count" in s for s in done.skipped)


def test_eval_results_yaml_matches_the_published_format(results, tmp_path):
    done = export([results], "eval-results", tmp_path / "out", benchmarks=["minimath=me/minimath-bench:test"])
    paths = _files(tmp_path / "out", "*.yaml")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in paths] == [
        "minimath/ia3--default/.eval_results/me_minimath-bench_test.yaml",
        "minimath/lora--default--seed1/.eval_results/me_minimath-bench_test.yaml"]
    assert done.written == paths or sorted(done.written) == paths
    data = yaml.safe_load(paths[0].read_text())
    jsonschema = pytest.importorskip("jsonschema")
    hub = pytest.importorskip("huggingface_hub")
    jsonschema.validate(data, EVAL_RESULTS_SCHEMA)
    # The Hub client's own reader and writer give back exactly what we wrote.
    entries = hub.parse_eval_result_entries(data)
    assert hub.eval_result_entries_to_yaml(entries) == data
    assert (entries[0].dataset_id, entries[0].task_id, entries[0].value) == ("me/minimath-bench", "test", 0.75)
    assert entries[0].date == "2026-11-28T16:05:33+00:00"
    assert "ia3/default" in entries[0].notes and "4 items" in entries[0].notes


def test_the_schema_rejects_what_the_format_does_not_allow():
    # The schema above is only a check if it fails on entries the spec rules out.
    jsonschema = pytest.importorskip("jsonschema")
    good = [{"dataset": {"id": "a/b", "task_id": "t"}, "value": 1.0}]
    jsonschema.validate(good, EVAL_RESULTS_SCHEMA)
    for bad in ([{"dataset": {"id": "a/b"}, "value": 1}], [{"dataset": {"id": "ab", "task_id": "t"}, "value": 1}],
                [{**good[0], "source": {"name": "x"}}], [{**good[0], "metric": "acc"}]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, EVAL_RESULTS_SCHEMA)


def test_eval_results_needs_a_benchmark_per_test_set(results, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--format", "eval-results", "--results", str(results), "--out", str(out)])
    assert result.exit_code == 2 and "--benchmark" in result.output and "test sets found: minimath" in result.output
    result = runner.invoke(app, ["export", "--format", "eval-results", "--results", str(results), "--out", str(out),
                                 "--benchmark", "minimath=not-a-hub-id"])
    assert result.exit_code == 2 and "'minimath=not-a-hub-id'" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["export", "--format", "eval-results", "--results", str(results), "--out", str(out),
                                 "--benchmark", "gsm8k=openai/gsm8k:main"])
    assert result.exit_code == 0 and "has no --benchmark" in result.output and "wrote 0 files" in result.output


def test_csv_has_one_row_per_run_with_its_metrics(results, tmp_path):
    result = runner.invoke(app, ["export", "--format", "csv", "--results", str(results), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "o" / "runs.csv")
    assert list(table["experiment"]) == ["ia3/default", "lora/default", "lora/x"]
    assert list(table["status"]) == ["success", "success", "cancelled"]
    assert table["test accuracy"].tolist()[:2] == [0.75, 0.25] and pd.isna(table["test accuracy"].iloc[2])
    assert {"seed", "forgetting", "train_time", "accelerator_memory_max", "num_trainable_params"} <= set(table.columns)
    assert "path" not in table.columns


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--format", "lm-eval", "--results", str(tmp_path / "nope"), "--out", str(out)])
    assert result.exit_code == 2 and "nope: no such file or folder" in result.output
    assert "Traceback" not in result.output and not out.exists()
    result = runner.invoke(app, ["export", "--format", "xml"])
    assert result.exit_code == 2


def test_export_never_imports_torch(results, tmp_path):
    code = ("import sys; from peftbench.cli import app; from typer.testing import CliRunner; "
            f"r = CliRunner().invoke(app, ['export', '--format', 'lm-eval', '--results', {str(results)!r}, "
            f"'--out', {str(tmp_path / 'o')!r}]); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'peftbench.pipeline') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
