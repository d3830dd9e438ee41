"""A run as lm-evaluation-harness output: `<model>/results_<date>.json` (lm-eval's results JSON) and, per
task, `<model>/samples_<task>_<date>.jsonl` (what its `--log_samples` writes), in lm-eval's folder layout.

Shape: lm-eval's published result schema (`lm_eval/result_schema.py`, `EvalResults`): `results`
maps each task to `{"name", "alias", "sample_len", "<metric>,<filter>": value,
"<metric>_stderr,<filter>": stderr}`, beside `configs`, `versions`, `n-shot`, `higher_is_better`,
`n-samples`, `config` (the model) and run metadata. Each peftbench test set is one lm-eval task
(`minimath`, `minimath_gsm8k`), filter `none`; forgetting and drift are further metrics of the
main set's task. A standard error the record cannot support is left out (the schema allows it, and
lm-eval's table prints it blank); the item count (`sample_len`) is required, so a run whose count the
predictions sidecar does not confirm is not exported in this format (`unsupported` says why).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from peftbench.export.runs import ExportRun, Score

FILTER = "none"


def sanitize(name: str) -> str:
    """A name safe as one path component, the way lm-eval sanitises model names (`a/b` -> `a__b`)."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def task_name(run: ExportRun, score: Score) -> str:
    return run.task if score.test_set == run.task else f"{run.task}_{score.test_set}"


def _metrics(scores: list[Score]) -> dict:
    out: dict = {}
    for score in scores:
        out[f"{score.metric},{FILTER}"] = score.value
        if score.stderr is not None:
            out[f"{score.metric}_stderr,{FILTER}"] = score.stderr
    return out


def _task_config(run: ExportRun, score: Score, name: str) -> dict[str, str | bool | None]:
    # lm-eval's schema types config values as str | bool | None, so nested settings are not repeated
    # here: the generation settings are in `config.gen_kwargs`, the full ones in the result record.
    return {
        "task": name,
        "output_type": "generate_until" if score.metric != "similarity" else "image_generation",
        "test_set": score.test_set,
        "metric": score.metric,
        "peftbench_task": run.task,
        "peftbench_experiment": run.experiment,
        "peftbench_result": run.path.name,
    }


def _model_config(run: ExportRun) -> dict:
    cfg, train = run.train_config, run.record.train_info
    config = {
        "model": "peftbench",
        "model_args": f"pretrained={run.model_id},peft={run.experiment},method={run.method}",
        "batch_size": str(cfg["batch_size_eval"]) if "batch_size_eval" in cfg else None,
        "gen_kwargs": cfg.get("generation_kwargs"),
        "limit": None,
    }
    if isinstance(train.num_total_params, int):
        config["model_num_parameters"] = train.num_total_params
    if isinstance(cfg.get("dtype"), str):
        config["model_dtype"] = cfg["dtype"]
    if run.seed is not None:
        config["random_seed"] = run.seed
    return config


def unsupported(run: ExportRun) -> str | None:
    """Why `run` cannot be written in this format, or None."""
    if not run.scores:
        return "no test metric in its final metrics row"
    unknown = [s.test_set for s in run.scores if s.n is None]
    if unknown:
        return (f"no predictions sidecar whose items match test set {unknown[0]!r}, so the item count "
                "lm-eval's format requires is unknown")
    return None


def lm_eval_results(run: ExportRun) -> dict:
    """The lm-eval results dict of one run (see `unsupported` first)."""
    results, configs, better, samples = {}, {}, {}, {}
    for score in run.scores:
        name = task_name(run, score)
        group = [score] + (run.figures if score.test_set == run.task else [])
        entry = {"name": name, "alias": name, "sample_len": score.n}
        results[name] = {**entry, **_metrics(group)}
        configs[name] = _task_config(run, score, name)
        better[name] = {s.metric: s.higher_is_better for s in group}
        samples[name] = {"original": score.n, "effective": score.n}
    version = run.info.peftbench_version
    out = {
        "results": results,
        "group_subtasks": {name: [] for name in results},
        "configs": configs,
        "versions": {name: version for name in results},
        "n-shot": {name: 0 for name in results},  # peftbench prompts carry no few-shot examples
        "higher_is_better": better,
        "n-samples": samples,
        "config": _model_config(run),
        "model_source": "peftbench",
        "model_name": f"{run.model_id} + {run.experiment}",
        "model_name_sanitized": sanitize(f"{run.model_id}__{run.stem}"),
    }
    commit = run.info.git.commit if run.info.git else None
    if isinstance(commit, str):
        out["git_hash"] = commit
    if run.created_at is not None:
        out["date"] = run.created_at.timestamp()
    packages = run.record.meta_info.package_info or {}
    if isinstance(packages.get("transformers-version"), str):
        out["transformers_version"] = packages["transformers-version"]
    return out


def file_name(run: ExportRun) -> str:
    """`results_<created_at>.json`, lm-eval's naming (colons replaced, so the name works on Windows)."""
    stamp = run.created_at.strftime("%Y-%m-%dT%H-%M-%S") if run.created_at else "undated"
    return f"results_{stamp}.json"


def model_folder(run: ExportRun) -> str:
    """lm-eval's output layout puts each model's files in a folder named after the sanitised model: here
    the model, the task, where the result came from (when imported) and the run's stem."""
    source = "" if run.source == "peftbench" else f"{run.source}__"
    return sanitize(f"{run.model_id}__{run.task}__{source}{run.stem}")


def relative_path(run: ExportRun) -> Path:
    return Path(model_folder(run)) / file_name(run)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def samples(run: ExportRun, rows: list[dict]) -> dict[Path, list[dict]]:
    """lm-eval's `--log_samples` files, `samples_<task>_<date>.jsonl` beside the results: one line per
    test item of the predictions sidecar, with the fields lm-eval writes (doc_id, doc, target, arguments,
    resps, filtered_resps, the metric, and the doc/prompt/target hashes)."""
    stamp = file_name(run).removeprefix("results_").removesuffix(".json")
    out: dict[Path, list[dict]] = {}
    for score in run.scores:
        name = task_name(run, score)
        names = {score.test_set} | ({run.task, "", "test"} if score.test_set == run.task else set())
        items = [row for row in rows if row.get("test_set") in names and "id" in row]
        lines = []
        for index, row in enumerate(items):
            prompt, gold = str(row.get("prompt", "")), str(row.get("gold", ""))
            doc = {"id": row["id"], "prompt": prompt, "gold": gold}
            value = row.get("correct", row.get(score.metric))
            lines.append({
                "doc_id": index, "doc": doc, "target": gold,
                "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": run.train_config.get("generation_kwargs") or {}}},
                "resps": [[str(row.get("prediction", ""))]], "filtered_resps": [str(row.get("extracted", ""))],
                "filter": FILTER, "metrics": [score.metric],
                score.metric: float(value) if isinstance(value, (bool, int, float)) else value,
                "doc_hash": _hash(json.dumps(doc, sort_keys=True)), "prompt_hash": _hash(prompt),
                "target_hash": _hash(gold),
            })
        if lines:
            out[Path(model_folder(run)) / f"samples_{name}_{stamp}.jsonl"] = lines
    return out
