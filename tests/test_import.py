"""`peftbench import`: reference-schema files into a results store, tagged with their source."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from peftbench.analysis.importer import import_files
from peftbench.analysis.load import load_runs
from peftbench.cli import app
from peftbench.records.results import find_results
from test_analysis_load import REFERENCE, needs_reference, write_run

runner = CliRunner()
FILES = ["lora--llama-3.2-3B-rank32.json", "ia3--llama-3.2-3B-default.json"]


def _reference(tmp_path):
    folder = tmp_path / "published" / "MetaMathQA"
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copy(REFERENCE / "MetaMathQA" / name, folder / name)
    return tmp_path / "published"


@needs_reference
def test_import_tags_files_and_keeps_them_apart_from_our_runs(tmp_path):
    published = _reference(tmp_path)
    store = tmp_path / "results"
    write_run(store, "lora/default", task="metamathqa")  # one of ours in the same task
    result = runner.invoke(app, ["import", str(published), "--output-dir", str(store)])
    assert result.exit_code == 0, result.output
    assert "imported 2 files, 0 already there, 0 skipped" in result.output
    target = store / "metamathqa" / "hf-method-comparison" / FILES[0]
    data = json.loads(target.read_text())
    original = json.loads((published / "MetaMathQA" / FILES[0]).read_text())
    assert data["run_info"]["source"] == "hf-method-comparison" and data["run_info"]["task"] == "metamathqa"
    assert data["run_info"]["imported_from"].endswith(FILES[0])
    assert data["train_info"] == original["train_info"]  # numbers untouched
    # `peftbench list` and sweeps look at <store>/<task>/*.json: imported files are not "done" runs of ours.
    assert list(find_results(store)) == ["metamathqa/lora--default"]
    runs = load_runs(store).set_index("experiment")
    assert runs.loc["lora/llama-3.2-3B-rank32", "source"] == "hf-method-comparison"
    assert runs.loc["lora/default", "source"] == "peftbench"
    assert runs.loc["lora/llama-3.2-3B-rank32", "test accuracy"] == original["train_info"]["metrics"][-1]["test accuracy"]


@needs_reference
def test_reimport_is_a_no_op_and_bad_files_are_skipped(tmp_path):
    published = _reference(tmp_path)
    store = tmp_path / "results"
    assert len(import_files([published], store, warn=lambda m: None).written) == 2
    (published / "MetaMathQA" / "broken.json").write_text("{")
    cancelled = write_run(published, "lora/x", task="MetaMathQA", status="cancelled")
    warnings = []
    again = import_files([published], store, warn=warnings.append)
    assert (len(again.written), len(again.unchanged), len(again.skipped)) == (0, 2, 2)
    assert any("broken.json" in w for w in warnings)
    assert any(cancelled.name in w and "cancelled" in w for w in warnings)


def test_sidecars_travel_with_the_result(tmp_path):
    source = write_run(tmp_path / "theirs", "lora/default", correct=[True, False])
    outcome = import_files([source], tmp_path / "store", source="colleague", task="minimath")
    (target,) = outcome.written
    assert target == tmp_path / "store" / "minimath" / "colleague" / "lora--default.json"
    assert target.with_name("lora--default.predictions.jsonl").is_file()
    (run,) = load_runs(tmp_path / "store").itertuples()
    assert run.source == "colleague" and run.predictions_path.endswith(".predictions.jsonl")


def test_bad_input_exits_2_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.json").write_text('{"a": 1}')
    cases = [
        ([str(tmp_path / "missing")], "missing: no such file or folder"),
        ([str(tmp_path / "empty")], "no result files (*.json) under"),
        ([str(tmp_path / "junk")], "none of the 1 files under"),
        ([str(tmp_path / "empty"), "--source", "../evil"], "--source '../evil': expected a folder-safe tag"),
        ([str(tmp_path / "empty"), "--source", "peftbench"], "other than 'peftbench'"),
    ]
    for args, expected in cases:
        result = runner.invoke(app, ["import", *args, "--output-dir", str(tmp_path / "store")])
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output and "Traceback" not in result.output, (args, result.output)
    assert not (tmp_path / "store").exists()


def test_reimport_of_a_file_with_nan_is_unchanged(tmp_path):
    path = write_run(tmp_path / "theirs", "full-finetuning/default")
    data = json.loads(path.read_text())
    data["train_info"]["metrics"][0]["drift"] = float("nan")  # as in one published image-gen file
    path.write_text(json.dumps(data))  # Python writes the NaN token, as the reference did
    first = import_files([path], tmp_path / "store", task="minimath")
    again = import_files([path], tmp_path / "store", task="minimath")
    assert (len(first.written), len(again.written), len(again.unchanged)) == (1, 0, 1)
    stored = (tmp_path / "store" / "minimath" / "hf-method-comparison" / path.name).read_text()
    assert "NaN" not in stored and '"drift": null' in stored
