"""The answer first: one sentence from a task's verdicts, the same in the report, the terminal and the
dashboard. It says only what the corrected verdicts say (better / worse needs 2+ seeds a side and a
Holm-corrected interval that excludes zero); where they cannot decide, it says that and why.
Reader side: no torch."""

from __future__ import annotations

import math

from peftbench.analysis import verdicts as verdicts_mod
from peftbench.analysis.report_data import TaskReport
from peftbench.metrics import TRAINABLE, is_fraction, label

PARAMS = f"{TRAINABLE.key} mean"  # the summary's column (stats.summarize)


def sentence(report: TaskReport) -> str:
    """E.g. "Nothing beats lora/tuned-default on test accuracy here (16 corrected comparisons, 5 seeds a
    side); the smallest not shown worse is ia3/default (57,600 trainable parameters, 85x fewer; -1.1 pts
    [-11.1, +7.0])." The interval goes with it: "not shown worse" is no claim of "as good"."""
    metric = label(report.main)
    if report.reference is None:
        return f"No comparison: there is no reference experiment to compare {metric} against."
    main = [v for v in report.verdicts if v.metric == report.main]
    testable = [v for v in main if v.testable]
    if not main:
        return f"No comparison with {report.reference}: these runs have no per-item predictions to pair."
    if not testable:
        seeds = sorted({min(v.seeds) for v in main})
        return (f"Nothing can be ranked yet: every comparison with {report.reference} has fewer than "
                f"{verdicts_mod.MIN_SEEDS} seeds on a side ({seeds[0]} here); run {verdicts_mod.MIN_SEEDS}+ seeds "
                "per experiment.")
    better = [v.experiment for v in testable if v.word == verdicts_mod.BETTER]
    worse = [v.experiment for v in testable if v.word == verdicts_mod.WORSE]
    how = f"{len(testable)} corrected comparison{'s' if len(testable) != 1 else ''}"
    head = (f"{_names(better)} {'is' if len(better) == 1 else 'are'} better than {report.reference} on {metric} ({how})"
            if better else f"Nothing beats {report.reference} on {metric} here ({how})")
    smallest = _smallest_not_worse(report, testable)
    tail = f"; the smallest not shown worse is {smallest}" if smallest else ""
    rest = f"; {len(worse)} {'is' if len(worse) == 1 else 'are'} worse" if worse else ""
    return f"{head}{tail}{rest}."


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _smallest_not_worse(report: TaskReport, testable: list) -> str | None:
    """The experiment with the fewest trainable parameters, fewer than the reference's, whose verdict is
    not "worse" (baselines train nothing and are no answer here)."""
    if PARAMS not in report.summary:
        return None
    params = dict(zip(report.summary["experiment"], report.summary[PARAMS]))
    methods = dict(zip(report.summary["experiment"], report.summary["method"]))
    limit = params.get(report.reference)
    if limit is None or not math.isfinite(limit):
        return None
    fine = [v.experiment for v in testable if v.word != verdicts_mod.WORSE and methods.get(v.experiment) != "base"
            and math.isfinite(params.get(v.experiment, math.nan)) and 0 < params[v.experiment] < limit]
    if not fine:
        return None
    best = min(fine, key=lambda name: (params[name], name))
    interval = next(v for v in testable if v.experiment == best).interval(is_fraction(report.main))
    return f"{best} ({params[best]:,.0f} trainable parameters, {limit / params[best]:,.0f}x fewer; {interval})"
