"""How far the golden text record moves when only the environment changes: the spread that justifies
the tolerances of tests/test_golden_record.py.

Runs the golden test's tiny text run (2-layer random Llama, LoRA r4, 2 steps) or its image run (minigen,
LoRA r2, 2 steps) in this environment and
prints, for every number in the record and its predictions, the golden value, this run's, and the
absolute and relative difference; then whether any text (predictions, prompts, keys) differs.
Run it under each environment to compare (another transformers release in a second virtualenv, another
thread count, another CPU):

    python benchmarks/golden_spread.py --threads 1
    python benchmarks/golden_spread.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))


def _leaves(value, where=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{where}[{i}]")
    else:
        yield where, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the tests use 1)")
    parser.add_argument("--run", choices=("text", "image"), default="text",
                        help="the golden text run (minimath, tiny Llama) or image run (minigen)")
    args = parser.parse_args()

    import os

    import torch
    import transformers
    import peft

    from conftest import TINY_PARAMS
    from test_golden_record import GOLDEN, LORA_IMAGE, LORA_TEXT, TINY_MINIGEN, _normalise
    from peftbench.pipeline import execute
    from peftbench.planning.plan import plan_run
    from peftbench.telemetry.progress import Reporter
    from peftbench.text.tiny import save_tiny_llama

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["PEFTBENCH_CACHE"] = str(root / "cache")
        torch.set_num_threads(1)  # as the test fixture builds the model
        if args.run == "text":
            model_dir = save_tiny_llama(root / "tiny-llama")
            folder, adapter, overrides = root / "experiments/minimath/lora/t", LORA_TEXT, TINY_PARAMS(model_dir)
            replace, name = {str(model_dir): "<tiny-model>"}, "minimath-lora"
        else:
            folder, adapter, overrides = root / "experiments/minigen/lora/t", LORA_IMAGE, TINY_MINIGEN
            replace, name = {}, "minigen-lora"
        torch.set_num_threads(args.threads)
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(json.dumps(adapter))
        outcome = execute(plan_run(folder, overrides=overrides), root / "results", Reporter(enabled=False))
        sidecar = outcome.path.with_name(outcome.path.stem + ".predictions.jsonl")
        actual = {"record": _normalise(json.loads(outcome.path.read_text()), replace),
                  "predictions": [_normalise(json.loads(line), replace) for line in sidecar.read_text().splitlines()]}
    golden = json.loads((GOLDEN / f"{name}.json").read_text())

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"{args.threads} torch thread(s), status {outcome.status}")
    mine = dict(_leaves(actual))
    texts = 0
    print(f"{'field':<62} {'golden':>14} {'this run':>14} {'abs diff':>10} {'rel diff':>10}")
    for where, expected in _leaves({k: golden[k] for k in actual}):
        got = mine.get(where)
        if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
            diff = abs(got - expected)
            rel = diff / abs(expected) if expected else math.inf if diff else 0.0
            print(f"{where:<62} {expected:>14.8g} {got:>14.8g} {diff:>10.2e} {rel:>10.2e}")
        elif got != expected:
            texts += 1
            print(f"{where}: golden {expected!r}, this run {got!r}")
    print(f"non-numeric differences: {texts}")


if __name__ == "__main__":
    main()
