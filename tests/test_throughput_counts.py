"""The evaluation work that benchmarks/throughput.py counts for each path (its printed bound rests on it)."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
_spec = importlib.util.spec_from_file_location("throughput", Path(__file__).parents[1] / "benchmarks" / "throughput.py")
throughput = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(throughput)


def test_plain_generate_pads_every_prompt_and_feeds_every_row_to_the_longest_answer():
    work = throughput.eval_work([10, 4, 6], generated=[3, 8, 2], group=None)
    assert work == {"prompt": 3 * 10, "rows": 3 * 7, "steps": 7}


def test_peftbench_pads_only_within_prompt_groups_and_feeds_a_row_until_it_ends():
    work = throughput.eval_work([10, 4, 6], generated=[3, 8, 2], group=2)
    # groups longest first: (10, 6) padded to 10, then (4) alone
    assert work == {"prompt": 2 * 10 + 1 * 4, "rows": 2 + 7 + 1, "steps": 7}
