"""One row per PeftType of the installed peft (read from peft itself) plus full fine-tuning: which
experiments a task ships for it, whether they train on the task's model (checked on its tiny
stand-in, cached), and for a type with no experiment the reason in one line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from peftbench.metrics import FORGETTING, TRAIN_LOSS, task_metric
from peftbench.planning.experiment import Experiment, discover
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


@dataclass
class FullRuns:
    """Seed-0 full-length runs of a task's experiments (`peftbench methods --results`): each one's test
    metric beside the untrained base model's, from the same folder."""

    metric: str
    values: dict[str, float]  # experiment -> its test metric
    losses: dict[str, float]  # experiment -> its last training loss (did it train at all?)
    base: float | None  # the untrained base model's (a baseline with no training and no shots)
    source: Path
    forgetting: dict[str, float] = field(default_factory=dict)  # experiment -> its forgetting (Δ cross-entropy)

    def cell(self, experiment: str) -> str:
        value = self.values.get(experiment)
        return f"{experiment.split('/')[-1]} {_fmt(value)}" if value is not None else f"{experiment.split('/')[-1]} not run"

    def below_base(self, experiments: list[str]) -> str:
        if self.base is None:
            return ""
        low = [e for e in experiments if e in self.values and self.values[e] <= self.base]
        named = ", ".join(f"{e} ({why})" if (why := self._why(e)) else e for e in low)
        return (f"{named}: {self.metric} at or below the untrained base's ({_fmt(self.base)}) in its "
                "full-length run (one seed); `peftbench tune` searches its learning rate") if low else ""

    def _why(self, experiment: str) -> str:
        """What the run's own figures say about why it did not learn the task: its outputs stayed where
        the base's were, or it moved far from them, and how well it fit the training answers."""
        parts = []
        forgot = self.forgetting.get(experiment)
        if forgot is not None and forgot < BARELY_MOVED:
            parts.append(f"forgetting {forgot:+.3f}: barely moved from the base, as a too-low learning rate does")
        elif forgot is not None and forgot > MOVED_FAR:
            parts.append(f"forgetting {forgot:+.2f}: moved far from the base, as a too-high learning rate does")
        if experiment in self.losses:
            parts.append(f"last train loss {self.losses[experiment]:.3g}")
        return "; ".join(parts)

    def caption(self) -> str:
        base = f"untrained base {_fmt(self.base)}" if self.base is not None else "no untrained-base run"
        return f"full runs: {len(self.values)} experiments with a seed-0 run in {self.source} ({base}); one seed each"


# Forgetting (Δ cross-entropy on general text, nats) of a run that did not beat the untrained base: below
# BARELY_MOVED its outputs are nearly the base's (UniLoRA's default run: +0.000, 7% = the base's 7%), above
# MOVED_FAR far from them (OLoRA +7.7, PiSSA +3.9: 3% and 5%). Most runs that learned the task lie
# between (LoRA +0.28, IA3 +0.10, full fine-tuning +0.05).
BARELY_MOVED = 0.01
MOVED_FAR = 1.0


def _fmt(value: float) -> str:
    return f"{value:.1%}" if 0 <= value <= 1 else f"{value:.4g}"


def full_runs(results: Path, task: str) -> FullRuns:
    from peftbench.records.record import read_record_or_none
    from peftbench.records.results import find_results
    from peftbench.records.status import SUCCESS

    spec = task_spec(task)
    metric = task_metric("test", spec.metric)
    values, losses, forgetting, base = {}, {}, {}, None
    for path in find_results(results, task).values():
        record = read_record_or_none(path)  # not a record of ours: the report warns about such files, here no run
        if record is None:
            continue
        info = record.run_info
        value = record.final_metrics().get(metric)
        if record.train_info.status != SUCCESS or info.seed != 0 or not isinstance(value, (int, float)):
            continue
        values[info.experiment_name] = float(value)
        for figures, key in ((losses, TRAIN_LOSS.key), (forgetting, FORGETTING.key)):
            found = record.final_metrics().get(key)
            if isinstance(found, (int, float)):
                figures[info.experiment_name] = float(found)
        config = info.train_config or {}
        if config.get("skip_training") and not config.get("few_shot"):
            base = float(value)
    return FullRuns(metric, values, losses, base, results, forgetting)
