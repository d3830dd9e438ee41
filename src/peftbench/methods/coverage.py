"""One row per PeftType of the installed peft (read from peft itself) plus full fine-tuning: which
experiments a task ships for it, whether they train on the task's model (checked on its tiny
stand-in, cached), and for a type with no experiment the reason in one line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from peftbench.experiment import Experiment, discover
from peftbench.methods import reasons
from peftbench.methods.cache import cached
from peftbench.tasks import task_spec

FULL = "FULL_FINETUNING"


@dataclass
class TypeRow:
    peft_type: str
    experiments: list[str] = field(default_factory=list)
    trains: str = ""  # "yes", "no", "not checked here", or "" when nothing is shipped
    detail: str = ""  # why not shipped, or why it does not train


def installed_types() -> list[str]:
    from peft import PeftType

    return [t.value for t in PeftType]


def experiment_type(exp: Experiment) -> str:
    return FULL if exp.peft_config is None else str(exp.peft_config.get("peft_type", "")).upper()


def check_payload(exp: Experiment) -> dict:
    return {"task": exp.task, "peft_config": exp.peft_config, "overrides": exp.overrides}


def train_check(exp: Experiment, refresh: bool = False) -> dict:
    """The cached "does it train" answer for one experiment (see probe / image_probe)."""
    kind = task_spec(exp.task).kind
    if kind == "text":
        from peftbench.methods.probe import text_train_check

        compute = lambda: text_train_check(exp)  # noqa: E731
    elif exp.task in ("minigen", "imagegen"):
        from peftbench.methods.image_probe import image_train_check

        compute = lambda: image_train_check(exp)  # noqa: E731
    else:
        return {"trains": None, "error": "no tiny stand-in of this task's model: configs are validated only"}
    return cached("train", check_payload(exp), compute, refresh)


def coverage(task: str, experiments_dir: Path | str, check: bool = True, refresh: bool = False) -> list[TypeRow]:
    kind = task_spec(task).kind
    found = [e for e in discover(experiments_dir, task) if not e.is_baseline]  # baselines are no method
    elsewhere = _types_of_other_tasks(Path(experiments_dir), task, kind)
    rows = []
    for peft_type in installed_types() + [FULL]:
        exps = [e for e in found if experiment_type(e) == peft_type]
        if not exps:
            rows.append(TypeRow(peft_type, detail=_reason(peft_type, kind, task, elsewhere)))
            continue
        row = TypeRow(peft_type, [e.full_name for e in exps])
        if check:
            results = {e.full_name: train_check(e, refresh) for e in exps}
            row.trains, row.detail = _summary(results)
        rows.append(row)
    return rows


def _reason(peft_type: str, kind: str, task: str, elsewhere: dict[str, list[str]]) -> str:
    why = reasons.reason(peft_type, kind, task)
    if why in (reasons.GENERIC, reasons.TASK_DEFAULT.get(task)) and peft_type in elsewhere:
        return f"{why} (shipped for: {', '.join(elsewhere[peft_type])})"
    return why


def _types_of_other_tasks(root: Path, task: str, kind: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != task):
        try:
            if task_spec(folder.name).kind != kind:
                continue
        except Exception:  # a folder that is not a registered task
            continue
        for exp in discover(root, folder.name):
            if exp.is_baseline:
                continue
            names = found.setdefault(experiment_type(exp), [])
            if folder.name not in names:
                names.append(folder.name)
    return found


def _summary(results: dict[str, dict]) -> tuple[str, str]:
    if any(r["trains"] is None for r in results.values()):
        return "not checked here", next(r["error"] for r in results.values() if r["trains"] is None)
    failed = {name: r for name, r in results.items() if not r["trains"]}
    if not failed:
        return "yes", ""
    name, r = next(iter(failed.items()))
    return "no", f"{name}: {r['error']}"
