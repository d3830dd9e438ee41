import re
from collections import Counter

import pytest

from peftbench.tasks.minimath.problems import HELD_OUT_EVERY, HELD_OUT_TEMPLATES, TEMPLATES, generate
from peftbench.text.extract import extract_answer

STEP = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@pytest.fixture(scope="module")
def splits():
    return {"train": generate("train", 2000), "valid": generate("valid", 200), "test": generate("test", 500)}


def template_of(example):
    return example.id.split("-")[2]


def test_template_counts():
    assert len(TEMPLATES) >= 16
    assert len(HELD_OUT_TEMPLATES) >= 5
    assert HELD_OUT_TEMPLATES < set(TEMPLATES)


def test_deterministic():
    assert generate("train", 300, seed=3) == generate("train", 300, seed=3)
    assert generate("test", 100) == generate("test", 100)


def test_prefix_stable_in_n():
    assert generate("valid", 50) == generate("valid", 100)[:50]


def test_seeds_differ():
    assert generate("train", 50, seed=0) != generate("train", 50, seed=1)


def test_sizes_and_ids(splits):
    for split, examples in splits.items():
        expected = [f"minimath-{split}-{template_of(e)}-{i}" for i, e in enumerate(examples)]
        assert [e.id for e in examples] == expected
        assert all(template_of(e) in TEMPLATES for e in examples)
        assert len({e.question for e in examples}) == len(examples)  # no repeats within a split


def test_splits_share_no_question(splits):
    questions = {name: {e.question for e in examples} for name, examples in splits.items()}
    assert not questions["train"] & questions["valid"]
    assert not questions["train"] & questions["test"]
    assert not questions["valid"] & questions["test"]


def test_valid_and_test_disjoint_across_seeds():
    valid = {e.question for e in generate("valid", 200, seed=1)}
    assert not valid & {e.question for e in generate("test", 200, seed=2)}


def test_held_out_templates_never_in_train(splits):
    assert not {template_of(e) for e in splits["train"]} & HELD_OUT_TEMPLATES
    assert {template_of(e) for e in generate("train", 2000, seed=7)} == set(TEMPLATES) - HELD_OUT_TEMPLATES


@pytest.mark.parametrize("split", ["valid", "test"])
def test_eval_is_a_quarter_held_out(splits, split):
    held = sum(template_of(e) in HELD_OUT_TEMPLATES for e in splits[split])
    assert held == -(-len(splits[split]) // HELD_OUT_EVERY)  # indices 0, 4, 8, ...
    assert {template_of(e) for e in splits[split]} == set(TEMPLATES)


def test_targets_end_with_answer_and_extract(splits):
    for examples in splits.values():
        for e in examples:
            assert e.target.endswith(f"The answer is {e.gold}.")
            assert e.target.count("The answer is") == 1
            assert extract_answer(e.target) == e.gold
            assert int(e.gold) > 0


def test_arithmetic_in_targets_is_correct(splits):
    for examples in splits.values():
        for e in examples:
            steps = STEP.findall(e.target)
            sentences = e.target.count(". ")  # one sentence per step, then "The answer is N."
            assert len(steps) == sentences, e.target
            for a, op, b, c in steps:
                a, b, c = int(a), int(b), int(c)
                if op == "/":
                    assert a % b == 0 and a // b == c, e.target
                else:
                    assert OPS[op](a, b) == c, e.target
                assert c > 0
            assert int(steps[-1][3]) == int(e.gold)


def test_question_has_no_answer_marker(splits):
    for examples in splits.values():
        assert not any("answer is" in e.question.lower() or "####" in e.question for e in examples)


def test_step_counts_cover_one_to_three(splits):
    for split in ("train", "test"):
        counts = Counter(len(STEP.findall(e.target)) for e in splits[split])
        assert set(counts) == {1, 2, 3}, counts


def test_operands_mostly_small(splits):
    numbers = [int(n) for e in splits["train"] for n in re.findall(r"\d+", e.question)]
    assert sum(2 <= n <= 60 for n in numbers) / len(numbers) > 0.9


def test_bad_split_and_n():
    with pytest.raises(ValueError, match="split"):
        generate("dev", 10)
    with pytest.raises(ValueError):
        generate("train", -1)
    assert generate("train", 0) == []
