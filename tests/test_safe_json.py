"""Strict JSON reading (safe_json) and names that become paths (names): every bad file or name is one
BadFile/UserError naming it, never a hang, a RecursionError or a write outside the root."""

from __future__ import annotations

import json
import os

import pytest

from peftbench import safe_json
from peftbench.records import names
from peftbench.errors import UserError


def test_a_good_object_reads(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"r": 8, "nested": {"a": [1, 2]}}')
    assert safe_json.read_json_object(path) == {"r": 8, "nested": {"a": [1, 2]}}


def test_a_symlink_to_a_file_is_followed(tmp_path):
    (tmp_path / "real.json").write_text('{"a": 1}')
    os.symlink("real.json", tmp_path / "link.json")
    assert safe_json.read_json_object(tmp_path / "link.json") == {"a": 1}


def _make(kind: str, path):
    if kind == "dangling symlink":
        os.symlink("nowhere.json", path)
    elif kind == "symlink loop":
        os.symlink(path.name + ".b", path)
        os.symlink(path.name, str(path) + ".b")
    elif kind == "folder":
        path.mkdir()
    elif kind == "named pipe":
        os.mkfifo(path)
    elif kind == "not utf-8":
        path.write_bytes(b'{"a": "\xff"}')
    elif kind == "duplicate key":
        path.write_text('{"r": 8, "r": 16}')
    elif kind == "too deep":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "deep but parseable":
        path.write_text("[" * 500 + "]" * 500)
    elif kind == "too big":
        path.write_text('{"a": "' + "x" * (safe_json.CONFIG_MAX_BYTES + 10) + '"}')
    elif kind == "not an object":
        path.write_text("[1, 2]")
    elif kind == "malformed":
        path.write_text('{\n  "a": 1,\n}')
    elif kind == "missing":
        pass


BAD = {
    "dangling symlink": "broken symlink",
    "symlink loop": "symlink loop",
    "folder": "a folder, expected a regular file",
    "named pipe": "a named pipe, expected a regular file",
    "not utf-8": "not UTF-8 text (byte 0xff",
    "duplicate key": "duplicate key 'r'",
    "too deep": "nested deeper than the 64 levels",
    "deep but parseable": "nested deeper than the 64 levels",
    "too big": "bytes, more than the",
    "not an object": "expected a JSON object, got list",
    "malformed": "malformed JSON at line 3 column 1",
    "missing": "file not found",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_every_bad_file_is_one_line_naming_it(tmp_path, kind):
    path = tmp_path / "adapter_config.json"
    _make(kind, path)
    with pytest.raises(UserError) as caught:  # BadFile is a UserError (CLI) and a ValueError (readers)
        safe_json.read_json_object(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert BAD[kind] in message


def test_bad_file_is_also_a_value_error_for_readers(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1, "a": 2}')
    with pytest.raises(ValueError):
        safe_json.read_json(path)


def test_lexists_sees_a_broken_symlink(tmp_path):
    os.symlink("nowhere", tmp_path / "link")
    assert safe_json.lexists(tmp_path / "link") and not (tmp_path / "link").exists()


# names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["minimath", "MetaMathQA", "image-gen", "lora_plus", "r16.v2", "a+b", "x" * 100])
def test_valid_names(value):
    assert names.is_name(value) and names.check_name(value, "task") == value


@pytest.mark.parametrize("value", ["", ".", "..", "../..", "/etc", "a/b", "a..b", ".hidden", "-x", "a b", "x" * 101,
                                   "a\nb", "[red]x", 7, None, ["a"]])
def test_invalid_names(value):
    assert not names.is_name(value)
    with pytest.raises(UserError, match="task"):
        names.check_name(value, "task")


def test_experiment_names():
    assert names.is_experiment_name("lora/default") and names.is_experiment_name("default")
    for bad in ("lora/../x", "a/b/c", "/abs", "lora/", "<img src=x>", 3):
        assert not names.is_experiment_name(bad)


def test_join_under_stays_under_the_root(tmp_path):
    root = tmp_path / "store"
    assert names.join_under(root, "minimath", "hf", "x.json", last_is_file=True) == root / "minimath" / "hf" / "x.json"
    for parts in (("..", "x"), ("/etc", "x"), (".", "x"), ("a", "../../x")):
        with pytest.raises(UserError):
            names.join_under(root, *parts, last_is_file=True)


def test_join_under_refuses_a_symlink_out_of_the_root(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "minimath")
    with pytest.raises(UserError, match="resolves outside"):
        names.join_under(root, "minimath", "x.json", last_is_file=True)


def test_probe_writable(tmp_path):
    folder = names.probe_writable(tmp_path / "new" / "results")
    assert folder.is_dir() and list(folder.iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        names.probe_writable(tmp_path / "file")
    with pytest.raises(UserError, match="cannot create"):
        names.probe_writable(tmp_path / "file" / "sub")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_probe_writable_read_only(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(UserError, match="cannot write there"):
            names.probe_writable(folder)
    finally:
        folder.chmod(0o755)


def test_json_dump_roundtrip_of_configs_is_unchanged(tmp_path):
    data = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"], "rank_pattern": {}}
    path = tmp_path / "adapter_config.json"
    path.write_text(json.dumps(data))
    assert safe_json.read_json_object(path) == data
