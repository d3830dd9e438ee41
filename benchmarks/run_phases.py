"""Where a full-length run's wall time goes: each phase's seconds and share of the total.

Runs one text experiment end to end through the run pipeline (`peftbench.planning.plan.plan_run` +
`peftbench.pipeline.execute`), with a timer around each phase function the pipeline calls: model load,
task data, tokenisation, base cross-entropy, adapter set-up, training steps, validation, test
generation (per test set), forgetting/drift pass, adapter save. By default the data caches (tokenised
data, base cross-entropy) start empty, as in the first run of a sweep; the converted model is reused
(`--warm` keeps every cache).
`--plain` runs the paths from before issue 12 (full-logit loss, `model.generate`, no accounted-memory
hooks) for a before/after comparison.

Usage: python benchmarks/run_phases.py [--experiment experiments/minimath/lora/default] [--threads N]
       [--plain] [--warm] [--max-steps N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil

PROCESS_START = psutil.Process().create_time()

import torch  # noqa: E402

import peftbench.pipeline.sequence as sequence  # noqa: E402
import peftbench.pipeline.text as text  # noqa: E402
import peftbench.text.evaluate as evaluate  # noqa: E402
import peftbench.text.lm_loss as lm_loss  # noqa: E402
from peftbench.system.environment import system_info  # noqa: E402
from peftbench.system.folders import cache_dir  # noqa: E402
from peftbench.planning.plan import plan_run  # noqa: E402
from peftbench.telemetry.progress import Reporter  # noqa: E402

IMPORTED = time.time()
SECONDS: dict[str, float] = defaultdict(float)
_inside = []  # names of the phases now running (validation happens inside training)


def timed(name, fn):
    def wrapper(*args, **kwargs):
        label = name(*args, **kwargs) if callable(name) else name
        if _inside:  # nested: counted by the enclosing phase, also shown on its own
            label = f"{_inside[-1]} > {label}"
        _inside.append(label)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SECONDS[label] += time.perf_counter() - start
            _inside.pop()
    return wrapper


class _NoAccounting:
    """Stands in for memory_accounting.AccountedMemory on the plain path (no saved-tensor hooks)."""

    def __init__(self, *args):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def step(self) -> None:
        pass

    def summary(self) -> dict:
        return {}


def install_timers(plan, plain: bool) -> None:
    task_class = type(plan.spec.create())  # the pipeline makes its own instance: time the class's methods
    test_names = iter(["test generation"] + [f"test generation ({t.name})" for t in
                                             plan.spec.create().test_sets(plan.cfg)[1:]])
    for method in ("train_examples", "valid_examples", "test_sets", "forgetting_texts"):
        setattr(task_class, method, timed("task data", getattr(task_class, method)))
    text.load_model = timed("model load", text.load_model)
    text.encode_all = timed("tokenisation (training data)", text.encode_all)
    text.encode_corpus = timed("tokenisation (forgetting corpus)", text.encode_corpus)
    text.base_cross_entropy = timed("base cross-entropy", text.base_cross_entropy)
    sequence.prepare_training = timed("adapter set-up", sequence.prepare_training)
    sequence.train = timed("training (steps + validation)", sequence.train)
    text.generate_answers = timed(lambda *a, **k: "validation" if _inside else next(test_names),
                                  text.generate_answers)
    text.cross_entropy_and_drift = timed("forgetting/drift pass", text.cross_entropy_and_drift)
    sequence.saved_size = timed("adapter save (file size)", sequence.saved_size)
    if plain:
        evaluate.FAST_GENERATION = False
        text.causal_lm_loss = lm_loss.plain_causal_lm_loss
        sequence.AccountedMemory = _NoAccounting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="experiments/minimath/lora/default")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--plain", action="store_true", help="today's plain paths (full-logit loss, generate)")
    parser.add_argument("--warm", action="store_true", help="keep the data caches (tokenised data, base CE)")
    parser.add_argument("--max-steps", type=int, default=None, help="shorter runs, for trying the script")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="peftbench-phases-") as tmp:
        if not args.warm:  # a fresh cache that still holds the converted model
            models = cache_dir() / "models"
            os.environ["PEFTBENCH_CACHE"] = tmp
            if models.exists():
                os.symlink(models, Path(tmp) / "models")
        started = time.perf_counter()
        plan = plan_run(args.experiment, max_steps=args.max_steps)
        SECONDS["plan (config, validation)"] = time.perf_counter() - started
        install_timers(plan, args.plain)
        train_time = _capture_train_time()
        outcome = sequence.execute(plan, Path(tmp) / "results", Reporter(enabled=False))
        total = time.perf_counter() - started
    print_report(args, plan, outcome, total, load_start, train_time())


def _capture_train_time():
    """The training steps' own clock (TrainState.train_time), read from the state train() fills."""
    states = []
    inner = sequence.train

    def wrapper(*args, **kwargs):
        states.append(args[8])  # train(model, optimizer, scheduler, batches, loss_fn, cfg, device, memory, state, ...)
        return inner(*args, **kwargs)

    sequence.train = wrapper
    return lambda: states[0].train_time.total if states else float("nan")


def print_report(args, run, outcome, total: float, load_start, train_time: float) -> None:
    info, cfg = system_info(), run.cfg
    print(f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; {info['accelerator']}, "
          f"{info['cpu_count']} cpus, torch threads {torch.get_num_threads()}, torch {torch.__version__}, "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"run: {run.experiment.full_name} on {run.experiment.task}, {cfg.max_steps} steps, batch {cfg.batch_size}, "
          f"paths: {'plain' if args.plain else 'peftbench'}, caches: {'warm' if args.warm else 'cold data, warm model'}; "
          f"status {outcome.status}")
    print(f"load average at start {' '.join(f'{x:.1f}' for x in load_start)}, "
          f"at end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows = dict(SECONDS)
    rows["training (steps + validation) > steps (train_time)"] = train_time
    top = [k for k in rows if " > " not in k]
    rows["other (record, environment, ...)"] = total - sum(rows[k] for k in top)
    top.append("other (record, environment, ...)")
    print(f"{'phase (share of the run from plan_run to the record)':62s} {'seconds':>9s} {'share':>7s}")
    for name in top:
        print(f"{name:62s} {rows[name]:9.1f} {rows[name] / total:7.1%}")
        for child in sorted(k for k in rows if k.startswith(name + " > ")):
            print(f"{'  ' + child[len(name) + 3 :]:62s} {rows[child]:9.1f} {rows[child] / total:7.1%}")
    print(f"{'total (plan_run to record)':62s} {total:9.1f}")
    print(f"{'before it: python start and imports':62s} {IMPORTED - PROCESS_START:9.1f}")
    metrics = outcome.record.train_info.metrics
    final = metrics[-1] if metrics else {}
    print("final:", {k: round(v, 4) if isinstance(v, float) else v for k, v in final.items()})


if __name__ == "__main__":
    main()
