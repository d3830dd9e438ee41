"""Retention on lm-evaluation-harness tasks: the config's `retention.lm_eval_tasks` (Hub tasks such as
`ifeval`, `bbh`, `nq_open`, `mmlu`, or local task YAML files) evaluated through lm-eval's own API on the
base model and on the tuned one (the adapter loaded, in this process), with lm-eval's own metrics and
sample counts. Reader of its results, not a reimplementation: every figure is lm-eval's.

Without the [test]/[retention] extra's lm-eval, or without the Hub for a Hub task, the entry says
"not measured: <why>" and the run goes on.
"""

from __future__ import annotations

from pathlib import Path

from peftbench.errors import UserError


def _task_manager(tasks: list[str]):
    """lm-eval's TaskManager, with the folders of local YAML tasks on its include path; (manager, names)."""
    from lm_eval.tasks import TaskManager

    folders, names = [], []
    for task in tasks:
        path = Path(task).expanduser()
        if path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise UserError(f"retention.lm_eval_tasks: {path}: file not found")
            folders.append(str(path.resolve().parent))
            names.append(_yaml_task_name(path))
        else:
            names.append(task)
    return TaskManager(include_path=folders or None), names


def _yaml_task_name(path: Path) -> str:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserError(f"retention.lm_eval_tasks: {path}: cannot read the task ({type(err).__name__})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("task"), str):
        raise UserError(f"retention.lm_eval_tasks: {path}: expected a task YAML with a 'task' name")
    return spec["task"]


def evaluate(model, tokenizer, tasks: list[str], limit: int | None, batch_size: int) -> dict:
    """lm-eval's `results` per task for `model` (a transformers or peft model already in memory)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    manager, names = _task_manager(tasks)
    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    out = simple_evaluate(model=lm, tasks=names, limit=limit, task_manager=manager, log_samples=False,
                          bootstrap_iters=0, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
                          fewshot_random_seed=0)
    return {"results": out["results"], "n_samples": out.get("n-samples", {}),
            "versions": out.get("versions", {})}


def _numbers(results: dict) -> dict[str, dict[str, float]]:
    """{task: {metric,filter: value}} of the numeric figures (lm-eval also reports aliases and stderr)."""
    return {task: {key: float(value) for key, value in figures.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and "stderr" not in key}
            for task, figures in results.items()}


def retention(model, base, tokenizer, cfg, reporter) -> dict:
    """train_info.retention's lm-eval entry: per task, the base's and the tuned model's figures and
    their difference, lm-eval's sample counts; or why nothing was measured."""
    tasks, limit = cfg.retention.lm_eval_tasks, cfg.retention.lm_eval_limit
    if not tasks:
        return {}
    try:
        import lm_eval  # noqa: F401
    except ModuleNotFoundError:
        return {"status": "not measured: lm-eval is not installed (pip install lm_eval)", "tasks": tasks}
    try:
        with reporter.status("lm-eval tasks, tuned model"):
            tuned = evaluate(model, tokenizer, tasks, limit, cfg.batch_size_eval)
        with base.active(), reporter.status("lm-eval tasks, base model"):
            before = evaluate(base.model, tokenizer, tasks, limit, cfg.batch_size_eval)
    except UserError:
        raise
    except Exception as err:  # no Hub for a Hub task, a task lm-eval cannot build: the run still counts
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return {"status": f"not measured: {type(err).__name__}: {reason}", "tasks": tasks}
    tuned_n, base_n = _numbers(tuned["results"]), _numbers(before["results"])
    per_task = {task: {"tuned": figures, "base": base_n.get(task, {}),
                       "delta": {k: v - base_n.get(task, {}).get(k, float("nan")) for k, v in figures.items()}}
                for task, figures in tuned_n.items()}
    return {"status": "measured", "tasks": tasks, "limit": limit, "results": per_task,
            "n_samples": tuned["n_samples"], "versions": tuned["versions"]}
