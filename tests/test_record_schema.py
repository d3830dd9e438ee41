"""The result record's JSON schema (docs/result-record.schema.json) is generated from the typed record,
and every writer's output validates against it: a run's success, failed and cancelled records, the
sweep driver's record for a run that died, and `import`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest

import peftbench.pipeline.sequence as pipeline_sequence
from peftbench.analysis.importer import import_files
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.sweep.outcome import record_crash
from peftbench.sweep.plan import SweepEntry
from reference_data import REFERENCE

ROOT = Path(__file__).resolve().parents[1]
LORA = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"}


def _schema_module():
    spec = importlib.util.spec_from_file_location("record_schema", ROOT / "scripts" / "record_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _validate(path: Path) -> None:
    schema = json.loads((ROOT / "docs" / "result-record.schema.json").read_text())
    jsonschema.validate(json.loads(path.read_text()), schema)


def test_schema_file_is_current():
    module = _schema_module()
    assert module.SCHEMA_FILE.read_text() == module.render(), "run: python scripts/record_schema.py"


def test_design_doc_record_fields_are_current():
    """docs/design.md lists the record's fields as the typed record declares them, between its markers."""
    module = _schema_module()
    doc = module.DESIGN_DOC.read_text(encoding="utf-8")
    assert doc.count(module.BEGIN) == 1 and doc.count(module.END) == 1, "docs/design.md lost its record-field markers"
    assert module.with_fields(doc) == doc, "run: python scripts/record_schema.py"


def test_run_records_validate(make_experiment, tiny_params, tmp_path, monkeypatch):
    folder = make_experiment(adapter=LORA)
    success = execute(plan_run(folder, overrides=tiny_params), tmp_path / "ok")
    assert success.status == "success"
    _validate(success.path)
    for error, status in ((RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "cancelled")):
        def failing_train(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(pipeline_sequence, "train", failing_train)
        outcome = execute(plan_run(folder, overrides=tiny_params), tmp_path / status)
        assert outcome.status == status
        _validate(outcome.path)


def test_crash_and_import_records_validate(make_experiment, tiny_params, tmp_path):
    planned = SweepEntry(plan_run(make_experiment(adapter=LORA), overrides=tiny_params), "run", "new")
    record_crash(planned, tmp_path / "results", "killed by signal 9 (SIGKILL)")
    _validate(tmp_path / "cancelled_results" / "minimath" / "lora--t.json")

    reference = REFERENCE / "MetaMathQA"
    if not reference.is_dir():
        pytest.skip(f"the published reference results are not at {REFERENCE}")
    outcome = import_files([reference / "lora--llama-3.2-3B-rank32.json"], tmp_path / "store", warn=print)
    _validate(outcome.written[0])
