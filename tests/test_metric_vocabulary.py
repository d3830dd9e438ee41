"""The metric vocabulary lives in one place (issue 26): src/peftbench/metrics.py declares every metric key,
and every other module takes keys, labels, formats and column lists from it. A declared key spelled as a
string literal anywhere else is a second copy of the vocabulary, which drifts; this test finds them."""

import ast
from pathlib import Path

import pytest

from peftbench import metrics

PACKAGE = Path(metrics.__file__).parent

# Words that also name something other than a metric, in the modules where they do: module -> why. Keep
# this short; a metric key belongs in metrics.py.
NOT_METRICS = {
    "forgetting": ({"records/results.py", "pipeline/text.py", "tasks/metamathqa/__init__.py",
                    "tasks/metamathqa/task.py", "tasks/from_file/spec.py", "tasks/from_file/scaffold.py"},
                   "the forgetting corpus: a data split of configs and task files (data.sources.forgetting, a task "
                   "file's `forgetting:` section), its entry in meta_info.dataset_info and the sidecar's test_set "
                   "of its per-text rows"),
    "drift": ({"pipeline/image.py", "tasks/imagegen/task.py", "tasks/minigen/task.py"},
              "the image tasks' drift prompt set and the sidecar's test_set of its per-image rows"),
}


def literals(source: str) -> list[tuple[int, str]]:
    """Every string constant of a module (f-string parts included) that is a declared metric key."""
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in metrics.METRICS]


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "metrics.py")


def test_no_module_spells_a_metric_key():
    found = []
    for path in modules():
        name = path.relative_to(PACKAGE).as_posix()
        for line, key in literals(path.read_text(encoding="utf-8")):
            if name not in NOT_METRICS.get(key, (set(),))[0]:
                found.append(f"src/peftbench/{name}:{line}: {key!r}")
    assert not found, ("metric keys spelled outside metrics.py (use the declaration's constant, e.g. "
                       "metrics.TRAIN_LOSS.key, or a list the registry derives):\n" + "\n".join(found))


@pytest.mark.parametrize("word", sorted(NOT_METRICS))
def test_every_exception_is_still_needed(word):
    """An allowed module that no longer spells the word comes off the list."""
    for name in sorted(NOT_METRICS[word][0]):
        keys = [key for _, key in literals((PACKAGE / name).read_text(encoding="utf-8"))]
        assert word in keys, f"{name} no longer spells {word!r}: remove it from NOT_METRICS"


def test_the_check_sees_literals():
    source = 'row = {"train loss": 1.0}\nname = f"{x} drift"\nkey = "test accuracy"\n'
    assert sorted(literals(source)) == [(1, "train loss"), (3, "test accuracy")]


def test_declarations_carry_the_vocabulary():
    """Readers derive their lists from the declarations: trade-off axes are known ones, leaderboard
    columns and axes are run-table metrics, and the memory axis holds the two figures memory_key picks from."""
    table = {m.key for m in metrics.run_table_metrics()}
    for m in metrics.METRICS.values():
        assert m.trade_off in (None, *metrics.TRADE_OFF_AXES), m.key
        if m.leaderboard or m.trade_off:
            assert m.key in table, m.key
        if m.short:
            assert m.where != "window" or m.run_mean, m.key
    assert metrics.memory_keys() == [metrics.MEMORY_MAX.key, metrics.ACCOUNTED_MAX.key]
    assert set(metrics.leaderboard_columns(narrow=True)) < set(metrics.leaderboard_columns())
    assert all(keys for keys in metrics.trade_offs().values())
