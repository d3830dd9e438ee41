"""The reference suite's headline claims, checked on a task's runs with the report's verdicts:

- "several methods beat LoRA on accuracy" (on MetaMathQA -> GSM8K it found Lily, HiRA, rsLoRA r64,
  SHiRA, FRoD, MiSS and GraLoRA above LoRA r32, one seed each);
- "methods with few parameters forget less" than LoRA.

A claim *holds* only on verdicts (2+ seeds a side, an interval corrected for the table's many comparisons
that excludes zero), counting each method once (its tuned default if a search made one, else its
default); otherwise it is *not shown*, with the counts behind that, or *cannot tell* when no verdict
could be given at all. The
claims are about LoRA, so they are checked only when the verdicts' reference is a LoRA experiment.

Trained by reinforcement learning (the `-rl` tasks), two published claims are checked instead:

- "rank 1 is enough for RL" (Thinking Machines, "LoRA Without Regret"): LoRA r1 (`lora/r1`) against the
  rank-16 reference; it *holds* when the corrected interval of r1 minus the reference lies above
  -RANK1_MARGIN, i.e. r1 is shown to lose at most that much;
- "PiSSA collapses under RL" (arXiv 2512.23165): PiSSA (`lora/pissa`) *holds* when it is worse than the
  reference by a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from peftbench.analysis import verdicts as verdicts_mod
from peftbench.analysis.answer import PARAMS
from peftbench.analysis.report_data import TaskReport
from peftbench.metrics import FORGETTING

HOLDS, NOT_SHOWN, CANNOT_TELL = "holds", "not shown", "cannot tell"
# Rows that are no evidence for a claim about PEFT methods: the reference's own method, the untrained
# baselines (nothing trained), and full fine-tuning (not parameter-efficient; the reference suite's
# "beat LoRA" list is of PEFT methods only).
NOT_EVIDENCE = ("lora", "base", "full-finetuning")


@dataclass
class Claim:
    claim: str
    status: str
    evidence: str


# The reference suite's claims are about math reasoning (MetaMathQA -> GSM8K) and minimath mirrors it.
CLAIM_TASKS = ("metamathqa", "minimath")
RL_TASKS = ("metamathqa-rl", "minimath-rl")
# "Enough" made testable: a loss larger than this margin (printed in the claim) must be ruled out by the
# corrected interval; "not distinguishable" alone would reward too few seeds.
RANK1_MARGIN = 0.02


def check(report: TaskReport) -> list[Claim]:
    """Both claims for `report`, or [] where they do not apply: another task than the reference suite's,
    a reference that is no LoRA experiment, or fewer than two other PEFT methods to compare."""
    if not report.reference or _method(report, report.reference) != "lora":
        return []
    if report.task in RL_TASKS:
        return [_rank1_enough(report), _pissa_collapses(report)]
    if report.task not in CLAIM_TASKS:
        return []
    others = {m for m in report.summary["method"] if m not in NOT_EVIDENCE}
    if len(others) < 2:
        return []
    return [_beat_lora(report), _forget_less(report)]


def table(report: TaskReport) -> pd.DataFrame:
    return pd.DataFrame([vars(c) for c in check(report)])


def _method(report: TaskReport, experiment: str) -> str | None:
    rows = report.summary[report.summary["experiment"] == experiment]
    return None if rows.empty else str(rows["method"].iloc[0])


def _methods_verdicts(report: TaskReport, metric: str) -> list[verdicts_mod.Verdict]:
    """One verdict on `metric` per PEFT method other than the reference's (see NOT_EVIDENCE): its tuned
    default when a search made one, else its default, else its first experiment — one chance per method,
    not one per experiment."""
    by_method: dict[str, list[verdicts_mod.Verdict]] = {}
    for v in report.verdicts:
        method = _method(report, v.experiment)
        if v.metric == metric and method not in NOT_EVIDENCE:
            by_method.setdefault(str(method), []).append(v)
    return [min(found, key=lambda v: (_preference(v.experiment), v.experiment)) for found in by_method.values()]


def _preference(experiment: str) -> int:
    name = experiment.split("/", 1)[-1]
    return 0 if name == "tuned-default" else 1 if name == "default" else 2


def _counts(found: list[verdicts_mod.Verdict]) -> str:
    words = [verdicts_mod.BETTER, verdicts_mod.SAME, verdicts_mod.WORSE, verdicts_mod.UNDECIDED]
    return ", ".join(f"{sum(v.word == w for v in found)} {w}" for w in words)


def _beat_lora(report: TaskReport) -> Claim:
    claim = f"several methods beat LoRA ({report.reference}) on {report.main}"
    found = _methods_verdicts(report, report.main)
    better = [v.experiment for v in found if v.word == verdicts_mod.BETTER]
    if not found or all(v.word == verdicts_mod.UNDECIDED for v in found):
        return Claim(claim, CANNOT_TELL, f"no verdict: {_counts(found) if found else 'no other method'}")
    status = HOLDS if len(better) >= 2 else NOT_SHOWN
    named = f" ({', '.join(better)})" if better else ""
    return Claim(claim, status, f"{_counts(found)} of {len(found)} methods{named}")


def _forget_less(report: TaskReport) -> Claim:
    claim = f"methods with fewer trainable parameters than {report.reference} forget less"
    if PARAMS not in report.summary:
        return Claim(claim, CANNOT_TELL, "the runs recorded no trainable-parameter counts")
    params = dict(zip(report.summary["experiment"], report.summary[PARAMS]))
    limit = params.get(report.reference)
    found = [v for v in _methods_verdicts(report, FORGETTING.key)
             if limit is not None and params.get(v.experiment) is not None and params[v.experiment] < limit]
    if not found or all(v.word == verdicts_mod.UNDECIDED for v in found):
        return Claim(claim, CANNOT_TELL, f"no verdict: {_counts(found) if found else 'no smaller method'}")
    decided = [v for v in found if v.word != verdicts_mod.UNDECIDED]
    less = [v.experiment for v in decided if v.word == verdicts_mod.BETTER]  # lower forgetting is better
    status = HOLDS if less and len(less) * 2 > len(decided) and not any(v.word == verdicts_mod.WORSE for v in decided) \
        else NOT_SHOWN
    named = f" (forget less: {', '.join(less)})" if less else ""
    return Claim(claim, status, f"{_counts(found)} of {len(found)} smaller methods{named}")


def _named_verdict(report: TaskReport, name: str) -> verdicts_mod.Verdict | None:
    """The main-metric verdict of LoRA experiment `name` (`r1`, `pissa`): its tuned version if a search
    made one, else the shipped one."""
    found = {v.experiment: v for v in report.verdicts if v.metric == report.main}
    return found.get(f"lora/tuned-{name}") or found.get(f"lora/{name}")


def _interval(v: verdicts_mod.Verdict) -> str:
    return f"{v.experiment} - {v.reference}: {v.interval(points=True)}"


def _rank1_enough(report: TaskReport) -> Claim:
    claim = f"rank 1 is enough for RL: LoRA r1 loses at most {RANK1_MARGIN * 100:.0f} points of {report.main} to {report.reference}"
    v = _named_verdict(report, "r1")
    if v is None or v.word == verdicts_mod.UNDECIDED:
        return Claim(claim, CANNOT_TELL, "no lora/r1 run" if v is None else f"no verdict: {v.why}")
    status = HOLDS if v.ci_low >= -RANK1_MARGIN else NOT_SHOWN
    return Claim(claim, status, _interval(v))


def _pissa_collapses(report: TaskReport) -> Claim:
    claim = f"PiSSA collapses under RL: worse than {report.reference} on {report.main}"
    v = _named_verdict(report, "pissa")
    if v is None or v.word == verdicts_mod.UNDECIDED:
        return Claim(claim, CANNOT_TELL, "no lora/pissa run" if v is None else f"no verdict: {v.why}")
    return Claim(claim, HOLDS if v.word == verdicts_mod.WORSE else NOT_SHOWN, f"{v.word}; {_interval(v)}")
