"""Inputs a careless or hostile user gives: shared task files (anchor bombs, bytes that are not UTF-8,
empty files, a scorer that is no Python file), caches that cannot work, a damaged search storage, an
export onto a file, NaN in an imported record, integer search ranges with fractions. Each is one line
and a non-zero exit (or works), with nothing written outside the chosen folders. A property-based test
throws arbitrary YAML and search spaces at the validators."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peftbench.errors import UserError
from test_task_file import BASIC, ROWS, error_of, make_task

BOMB = """a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
description: *i
"""


def test_a_yaml_anchor_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text(BOMB)
    assert "found the alias *a: task files do not take YAML anchors and aliases" in error_of(path, load_data=False)


def test_a_task_file_that_is_not_utf8_or_not_a_file(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_bytes(b"name: x\n\xff\n")
    assert "not UTF-8 text (byte 8: 0xff)" in error_of(path)
    assert "cannot read the task file" in error_of(tmp_path)


@pytest.mark.parametrize("content, expected", [
    (b"", "rows.jsonl is empty"),
    ("".join(json.dumps(r) + "\n" for r in ROWS[:3]).encode() + b'{"q": "\xe9", "a": "1", "why": "x"}\n',
     "rows.jsonl: not UTF-8 text at line 4 (byte"),
])
def test_data_files_that_are_empty_or_not_utf8_stop_before_any_model_loads(tmp_path, content, expected):
    path = make_task(tmp_path, BASIC)
    (tmp_path / "rows.jsonl").write_bytes(content)
    assert expected in error_of(path)


def test_a_python_scorer_module_must_be_a_py_file(tmp_path):
    (tmp_path / "scorers.txt").write_text("x = 1\n")
    spec = {**BASIC, "scorer": {"type": "python", "name": "mine", "module": "scorers.txt"}}
    assert "scorers.txt: expected a Python file ending in .py" in error_of(make_task(tmp_path, spec))


@pytest.mark.parametrize("variable, value, expected", [
    ("PEFTBENCH_CACHE", "FILE", "peftbench cache"),
    ("HF_HOME", "FILE", "Hub cache"),
    ("HOME", "FILE", "peftbench cache"),
])
def test_caches_that_cannot_work_are_one_line_and_the_doctor_agrees(tmp_path, monkeypatch, variable, value, expected):
    from peftbench.system import doctor, folders

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for name in ("PEFTBENCH_CACHE", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(variable, str(a_file))
    with pytest.raises(UserError, match=expected) as err:
        folders.check_caches()
    assert "is a file" in str(err.value) or "not a folder" in str(err.value)
    label, (_, folder) = next((k, v) for k, v in folders.caches().items() if k == expected)
    assert doctor.check_folder(label, folder).status == doctor.FAIL


def test_an_empty_cache_variable_means_unset(tmp_path, monkeypatch):
    from peftbench.system import doctor, folders

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PEFTBENCH_CACHE", "")
    monkeypatch.setenv("HF_HOME", " ")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert folders.cache_dir() == tmp_path / ".cache" / "peftbench"
    assert folders.hub_cache() == tmp_path / ".cache" / "huggingface" / "hub"
    assert doctor._cache_folders()["peftbench cache ($PEFTBENCH_CACHE)"] == folders.cache_dir()


def test_a_damaged_search_storage_is_one_line_and_rebuilds_from_the_trial_records(tmp_path):
    from peftbench.tune import study as study_mod

    storage = study_mod.storage_path(tmp_path)
    storage.parent.mkdir(parents=True)
    storage.write_bytes(b"not a database at all, overwritten by mistake" * 100)
    with pytest.raises(UserError, match=r"studies.db: the search's storage cannot be opened .* --rebuild-storage"):
        study_mod.open_study(tmp_path, "minimath/lora/default@k")
    moved = study_mod.set_aside_storage(tmp_path)
    assert moved.name == "studies.db.broken-1" and moved.read_bytes().startswith(b"not a database")
    assert study_mod.open_study(tmp_path, "minimath/lora/default@k").get_trials() == []


def test_export_onto_an_existing_file_is_one_line(tmp_path):
    from peftbench.export import export

    a_file = tmp_path / "out"
    a_file.write_text("mine")
    results = Path(__file__).resolve().parents[1] / "published" / "minimath-defaults"
    for fmt in ("csv", "lm-eval", "eval-results"):
        with pytest.raises(UserError, match="--out .*: exists and is not a folder"):
            export([results], fmt, a_file)
    assert a_file.read_text() == "mine"


def test_import_says_nan_and_leaves_out_a_record_without_a_finite_test_metric(tmp_path):
    from peftbench.analysis.importer import import_files
    from test_analysis_load import record

    source = tmp_path / "theirs" / "minimath"
    source.mkdir(parents=True)
    bad = record("lora/a", acc=0.3)
    bad["train_info"]["metrics"][-1]["test accuracy"] = float("nan")
    (source / "lora--a.json").write_text(json.dumps(bad))
    good = record("lora/b", acc=0.4)
    good["train_info"]["metrics"][-1]["forgetting"] = float("inf")
    (source / "lora--b.json").write_text(json.dumps(good))
    said = []
    outcome = import_files([tmp_path / "theirs"], tmp_path / "store", "x", warn=said.append)
    assert [p.name for p in outcome.written] == ["lora--b.json"]
    assert any("lora--a.json: every test metric is NaN or infinite" in s for s in said)
    assert any("lora--b.json: forgetting NaN or infinite: imported as missing" in s for s in said)


def test_an_integer_range_needs_whole_bounds():
    from pydantic import ValidationError

    from peftbench.tune.space import Knob

    with pytest.raises(ValidationError, match="whole-number bounds, got 2.5 to 8"):
        Knob(low=2.5, high=8, integer=True)
    assert Knob(low=2, high=8, integer=True).high == 8


# --- property-based ---------------------------------------------------------------------------------

YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                         st.text(max_size=20))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
KEYS = st.sampled_from(["data", "prompt", "target", "gold", "scorer", "name", "description", "training", "columns",
                        "forgetting", "chat_template", "unknown"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.dictionaries(KEYS, YAML_VALUES, max_size=6))
def test_any_task_file_is_loaded_or_refused_in_one_line(tmp_path, spec):
    from peftbench.tasks.from_file import load_task_file

    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        load_task_file(path, load_data=False)
    except UserError as err:
        assert "\n" not in str(err) and str(path) in str(err)


@settings(max_examples=80, deadline=None)
@given(space=st.dictionaries(st.sampled_from(["optimizer_kwargs.lr", "warmup_ratio", "adapter.r", "max_steps"]),
                             st.dictionaries(st.sampled_from(["low", "high", "log", "integer", "choices", "step"]),
                                             YAML_SCALARS | st.lists(YAML_SCALARS, max_size=3), max_size=4),
                             max_size=3))
def test_any_search_space_is_read_or_refused_in_one_line(space):
    import tempfile

    from peftbench.tune.space import load_space

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "search_space.json"
        path.write_text(json.dumps(space))
        try:
            read = load_space(Path(folder), 2e-3)
        except UserError as err:
            assert "\n" not in str(err) and str(path) in str(err)
        else:
            assert set(space) <= set(read.knobs)


def test_blank_folder_variables_are_removed_before_libraries_read_them(monkeypatch):
    from peftbench.system import folders

    monkeypatch.setenv("HF_HOME", "")
    monkeypatch.setenv("PEFTBENCH_CACHE", "  ")
    monkeypatch.setenv("HF_HUB_CACHE", "/somewhere")
    folders.unset_empty_variables()
    assert "HF_HOME" not in os.environ and "PEFTBENCH_CACHE" not in os.environ
    assert os.environ["HF_HUB_CACHE"] == "/somewhere"
