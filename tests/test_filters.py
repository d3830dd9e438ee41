"""The whitelist filter parser: what it accepts, what it selects, and that nothing else gets through."""

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peftbench.analysis.filters import MAX_DEPTH, InvalidFilter, filter_mask, parse_filter
from peftbench.errors import UserError


@pytest.fixture(scope="module")
def runs():
    return pd.DataFrame({
        "method": ["lora", "ia3", "vera", None],
        "experiment": ["lora/rank 32", "ia3/default", "vera/default", "x/y"],
        "test accuracy": [0.5, 0.3, math.nan, 0.2],
        "tokens / sec": [100.0, 200.0, 300.0, 400.0],
        "seed": pd.array([0, 1, None, 0], dtype="Int64"),
        "correct": [True, False, True, False],
    })


def rows(runs, text, **kwargs):
    return [i for i, keep in enumerate(filter_mask(runs, text, **kwargs)) if keep]


@pytest.mark.parametrize("text, expected", [
    ("", [0, 1, 2, 3]),
    ("   ", [0, 1, 2, 3]),
    ("test accuracy >= 0.3", [0, 1]),  # bare words form a column name; NaN never matches
    ("`test accuracy` > 0.3", [0]),
    ('"test accuracy" < 0.4', [1, 3]),
    ("Test_Accuracy <= 30%", [1, 3]),  # case, `_` for space, percent literal
    ("method == lora", [0]),
    ("method = 'lora'", [0]),
    ('method != "lora"', [1, 2]),  # None is missing: matches no comparison
    ("experiment == 'lora/rank 32'", [0]),
    ("method in (lora, 'ia3')", [0, 1]),
    ("method not in (lora)", [1, 2]),
    ("seed in (1, 2)", [1]),
    ("not test accuracy > 0.4", [1, 2, 3]),  # not: every row the operand leaves out, missing included
    ("tokens / sec > 150 and seed == 0", [3]),
    ("method == lora or method == vera and seed == 0", [0]),  # and binds tighter than or
    ("(method == lora or method == vera) and not seed == 0", [2]),
    ("correct == true", [0, 2]),
    ("correct == FALSE", [1, 3]),
    ("tokens / sec >= -1e9 AND tokens / sec < 2.5e2", [0, 1]),
])
def test_accepted_filters_select_the_right_rows(runs, text, expected):
    assert rows(runs, text) == expected


def test_aliases_name_a_displayed_column(runs):
    assert rows(runs, "train_speed > 250", aliases={"train_speed": "tokens / sec"}) == [2, 3]
    # an alias to a column the table lacks is ignored, not an entry point
    with pytest.raises(InvalidFilter, match="unknown column 'ghost'"):
        filter_mask(runs, "ghost > 1", aliases={"ghost": "nope"})


def test_mask_keeps_the_frame_index(runs):
    indexed = runs.set_index("experiment")
    mask = filter_mask(indexed, "seed == 0")
    assert mask.index.equals(indexed.index) and mask.dtype == bool


@pytest.mark.parametrize("text, why", [
    ("accuracy > 0.3", "unknown column 'accuracy'"),
    ("method > 'a'", "column 'method' holds text: use == != in, not >"),
    ("method == 3", "column 'method' holds text: quote the value 3"),
    ("seed == lora", "column 'seed' holds numbers: 'lora' is not a number"),
    ("seed ==", "expected a value, got the end of the filter"),
    ("seed 1", "expected a comparison"),
    ("(seed == 1", "expected `)`, got the end of the filter"),
    ("seed == 1)", "expected `and`, `or` or the end of the filter at position 10, got ')'"),
    ("seed in 1, 2", "expected `(` after `in`"),
    ("seed in ()", "expected a value"),
    ("seed not == 1", "expected `in` after `not`"),
    ("seed == 1e999", "number '1e999' is out of range"),
    ("seed == 1 ! 2", "unexpected '!'"),
    ("method == 'lora", "unexpected \"'\""),
    ("1 == seed", "expected a column name at position 1, got '1'"),
    ("x" * 3000, "longer than 2000 characters"),
    ("(" * (MAX_DEPTH + 5) + "seed == 1" + ")" * (MAX_DEPTH + 5), f"nested more than {MAX_DEPTH} levels"),
    ("not " * 200 + "seed == 1", f"nested more than {MAX_DEPTH} levels"),
])
def test_rejected_filters_say_why(runs, text, why):
    with pytest.raises(InvalidFilter) as info:
        filter_mask(runs, text)
    assert str(info.value).startswith("invalid filter: ") and why in str(info.value)
    assert isinstance(info.value, UserError)  # so the CLI prints it as one line


INJECTIONS = [
    "@pd.compat.os.system('touch /tmp/pwned')",
    "method == @pd.compat.os.system('touch /tmp/pwned')",
    "__import__('os').system('touch /tmp/pwned')",
    "method.__class__.__mro__",
    "method.str.len() > 1",
    "seed == seed.__class__",
    "exec('import os')",
    "eval('1')",
    "lambda: 1",
    "seed == 1; import os",
    "seed == 1 | __import__('os')",
    "`seed` .__init__",
    "method == lora and @os",
    "open('/etc/passwd').read()",
    "seed + 1 > 0",
    "{seed: 1}",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_are_rejected(runs, text, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(InvalidFilter):
        filter_mask(runs, text.replace("/tmp/pwned", str(marker)))
    assert not marker.exists()


def test_parse_rejects_non_text():
    with pytest.raises(InvalidFilter, match="expected text, got int"):
        parse_filter(3, ["seed"])


FRAGMENTS = ["seed", "method", "`test accuracy`", "test", "accuracy", "tokens", "/", "sec", "correct",
             "==", "=", "!=", "<", "<=", ">", ">=", "!", "in", "not", "and", "or", "(", ")", ",", "'",
             '"', "`", "lora", "'ia3'", "1", "-2.5e3", "30%", "1e999", "true", "false", "nan", "@",
             "__import__", ".", "os.system", "'x y'"]


def _check(runs, text):
    try:
        mask = filter_mask(runs, text)
    except InvalidFilter as exc:
        assert str(exc).startswith("invalid filter: ") and "\n" not in str(exc).strip()
    else:
        assert mask.dtype == bool and len(mask) == len(runs)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=80))
def test_fuzz_arbitrary_text_gives_a_mask_or_invalid_filter(runs, text):
    _check(runs, text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map(" ".join))
def test_fuzz_token_soup_gives_a_mask_or_invalid_filter(runs, text):
    """Random sequences of the grammar's own pieces reach far deeper into the parser than random text."""
    _check(runs, text)
