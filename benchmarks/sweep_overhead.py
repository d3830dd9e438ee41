"""What a sweep costs on top of its runs, and what its shared base-model work saves.

Usage: python benchmarks/sweep_overhead.py [--runs K] [--steps N]

1. Overhead: K tiny-model experiments, first each with `peftbench run` one after another, then all
   with `peftbench sweep --jobs 1` into a fresh folder; prints both wall times and their ratio.
2. Shared work: on the offline default model (SmolLM2-135M, minimath defaults), the base model's
   cross-entropy pass on the forgetting sample and the tokenised training data, which every run
   needs: computed (cold cache) vs read from the cache (every later run of a sweep); the difference
   is the seconds each run saves.
Run it on an otherwise idle machine: concurrent load distorts both measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peftbench.system.environment import system_info

LORA = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}


def make_experiments(root: Path, model_dir: Path, runs: int, steps: int) -> list[Path]:
    params = {"model_id": str(model_dir), "max_steps": steps, "eval_steps": steps, "batch_size": 2,
              "max_seq_length": 96, "generation_kwargs": {"max_new_tokens": 4, "max_length": 160},
              "data": {"train_size": 64, "valid_size": 2, "test_size": 4, "gsm8k_test_size": 2,
                       "forgetting_size": 2, "forgetting_max_tokens": 16}}
    folders = []
    for i in range(runs):
        folder = root / "minimath" / "lora" / f"bench{i}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(json.dumps(LORA))
        (folder / "training_params.json").write_text(json.dumps({**params, "seed": i}))
        folders.append(folder)
    return folders


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "peftbench", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def overhead(work: Path, runs: int, steps: int) -> None:
    from peftbench.text.tiny import save_tiny_llama

    folders = make_experiments(work / "experiments", save_tiny_llama(work / "tiny"), runs, steps)
    timed(["run", str(folders[0]), "--output-dir", str(work / "warmup"), "--quiet"])  # page cache, pyc files
    one_by_one = [timed(["run", str(f), "--output-dir", str(work / "single"), "--quiet"]) for f in folders]
    swept = timed(["sweep", str(work / "experiments"), "--jobs", "1", "--output-dir", str(work / "swept")])
    total = sum(one_by_one)
    print(f"overhead: {runs} tiny-model runs ({steps} steps each)")
    print(f"  peftbench run, one by one: {total:.1f} s  (each: {', '.join(f'{t:.1f}' for t in one_by_one)})")
    print(f"  peftbench sweep --jobs 1:  {swept:.1f} s  -> ratio {swept / total:.3f}")


def shared_baseline(work: Path) -> None:
    import torch

    from peftbench.planning.plan import plan_run
    from peftbench.text.baseline import base_cross_entropy
    from peftbench.text.data import encode_all
    from peftbench.text.evaluate import encode_corpus
    from peftbench.text.models import load_model

    run = plan_run(Path(__file__).resolve().parents[1] / "experiments/minimath/lora/default")
    model, tokenizer, model_info = load_model(run.cfg, torch.device("cpu"))
    texts, corpus_info = run.spec.create().forgetting_texts(run.cfg)
    corpus = encode_corpus(tokenizer, texts, run.cfg.data.forgetting_max_tokens)
    batch = min(run.cfg.batch_size_eval, 8)
    times = []
    for _ in range(2):  # first computes and caches, second reads the cache
        started = time.perf_counter()
        base_cross_entropy(model, corpus, tokenizer.pad_token_id, batch, model_info, corpus_info, run.cfg)
        times.append(time.perf_counter() - started)
    print(f"shared work: base cross-entropy on {len(texts)} texts x {run.cfg.data.forgetting_max_tokens} tokens, "
          f"{model_info['model_id']}")
    print(f"  computed: {times[0]:.2f} s, from cache: {times[1]:.4f} s -> {times[0] - times[1]:.2f} s saved per run")
    examples, times = run.spec.create().train_examples(run.cfg), []
    for _ in range(3):
        started = time.perf_counter()
        encode_all(tokenizer, run.cfg.query_template, examples, run.cfg.max_seq_length, run.cfg.loss_on)
        times.append(time.perf_counter() - started)
    print(f"shared work: tokenising {len(examples)} training examples")
    print(f"  computed: {times[0]:.2f} s, from cache: {times[1]:.2f} s, {times[2]:.2f} s -> {times[0] - times[2]:.2f} s saved per run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    info = system_info()
    print(f"setup: {info['cpu_count']} cpus, {info['accelerator']}, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="peftbench-sweep-bench-") as tmp:
        work = Path(tmp)
        # A cold cache for baselines, but the user's converted model (its conversion is not sweep work).
        from peftbench.system.folders import cache_dir

        (work / "cache").mkdir()
        (cache_dir() / "models").mkdir(parents=True, exist_ok=True)
        (work / "cache" / "models").symlink_to(cache_dir() / "models")
        os.environ["PEFTBENCH_CACHE"] = str(work / "cache")
        overhead(work, args.runs, args.steps)
        shared_baseline(work)


if __name__ == "__main__":
    main()
