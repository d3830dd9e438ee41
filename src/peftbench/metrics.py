"""The metric registry: every figure a result record carries, declared once — its key in the record,
where it lives, label, unit, which direction is better, its role, whether it is a leaderboard column and
which trade-off axis it is, and how it is shown.

Writers (the run pipeline, the training loops, the sweep) take keys from here (`TRAIN_LOSS.key`, ...);
readers (tables, report, dashboard, export) take labels, directions, formats and their column lists
(`leaderboard_columns`, `trade_offs`, `memory_keys`, ...) from here. Adding a metric is one `declare(...)`
plus its computation. Task metrics are named by the task's main metric: `valid <m>` per window, `test <m>`
at the end (`test <m> <set>` for extra test sets); such keys that are not declared (a new task's, or the
reference suite's) are still read, as quality metrics (higher is better). Nothing here imports torch.
tests/test_metric_vocabulary.py fails when a module under src/peftbench/ spells a declared key itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal, TypedDict, Unpack

Where = Literal["final", "window", "train_info"]
# quality: what the task asks for; cost: what training takes (time, memory, size, throughput); retention:
# what fine-tuning keeps or loses of the base model; inference: what the adapter costs at generation;
# rl: reinforcement learning's figures per step; info: counters and context, neither better nor worse.
Role = Literal["quality", "cost", "retention", "inference", "rl", "info"]
# "narrow": a column of every leaderboard; "wide": of the full one only (`peftbench report` without --narrow).
Board = Literal["narrow", "wide"]

# The trade-off axes: the costs a task's main metric is traded against (a Pareto plot each), in the order
# the report shows them. A metric declares its axis; within an axis the first declared metric with values
# is plotted (drift stands in for forgetting on tasks without a forgetting figure), except on the memory
# axis, where `analysis.load.memory_key` chooses the figure that ranks the runs.
MEMORY_AXIS = "memory"
TRADE_OFF_AXES = (MEMORY_AXIS, "time", "size", "forgetting", "inference")


@dataclass(frozen=True)
class Metric:
    key: str  # as written in the record
    where: Where  # final metrics row / every window row / train_info
    label: str  # for readers: axis labels, report headings
    unit: str  # "" for ratios and counts, "s", "bytes", "nats", "tokens/s", ...
    higher_is_better: bool | None  # None: a counter, neither better nor worse
    fmt: str  # a format spec, or "mb"/"kb" for byte counts
    role: Role
    short: str | None = None  # header in the terminal comparison table; None = not shown there
    leaderboard: Board | None = None  # a leaderboard column (the task's main metric always is one)
    trade_off: str | None = None  # its axis of TRADE_OFF_AXES
    trade_off_name: str | None = None  # its word in the leaderboard's "Pareto front vs" cells; None: the axis
    run_mean: bool = False  # a window metric whose mean over the windows is a figure of the run
    trl: str | None = None  # the key TRL logs it under (training/grpo.py)
    digits: int = 4  # rounding in the dashboard's table (after unit conversion)

    @property
    def is_bytes(self) -> bool:
        return self.fmt in ("mb", "kb")

    @property
    def front_name(self) -> str:
        return self.trade_off_name or self.trade_off or self.key


METRICS: dict[str, Metric] = {}


class _Optional(TypedDict, total=False):
    """The fields of `Metric` with defaults, which `declare` takes by keyword."""

    leaderboard: Board | None
    trade_off: str | None
    trade_off_name: str | None
    run_mean: bool
    trl: str | None
    digits: int


def declare(key: str, where: Where, label: str, unit: str, higher_is_better: bool | None, fmt: str, role: Role,
            short: str | None = None, **more: Unpack[_Optional]) -> Metric:
    if key in METRICS:
        raise ValueError(f"metric '{key}' is declared twice")
    if more.get("trade_off") not in (None, *TRADE_OFF_AXES):
        raise ValueError(f"metric '{key}': trade-off axis {more['trade_off']!r} is not one of {TRADE_OFF_AXES}")
    METRICS[key] = metric = Metric(key, where, label, unit, higher_is_better, fmt, role, short, **more)
    return metric


def task_metric(split: str, metric: str, test_set: str = "") -> str:
    """`valid accuracy`, `test accuracy`, `test accuracy gsm8k`: a task's main metric on a split."""
    return f"{split} {metric}" + (f" {test_set}" if test_set else "")


def sampled_metric(k: int, test_set: str = "") -> str:
    """`test pass@4`: sampled pass@k on a test set (text/sampled.py); read as quality, higher is better."""
    return f"test pass@{k}" + (f" {test_set}" if test_set else "")


# Quality at the end of a run (final metrics row), in the order tables show them.
TEST_ACCURACY = declare("test accuracy", "final", "test accuracy", "", True, "{:.1%}", "quality", "test acc")
TEST_ACCURACY_GSM8K = declare("test accuracy gsm8k", "final", "GSM8K accuracy", "", True, "{:.1%}", "quality",
                              "gsm8k acc", leaderboard="wide")
TEST_SIMILARITY = declare("test similarity", "final", "similarity", "", True, "{:.3f}", "quality", "similarity")
BASE_SIMILARITY = declare("base similarity", "final", "base similarity (adapter off)", "", None, "{:.3f}", "info")
FORGETTING = declare("forgetting", "final", "forgetting (Δ cross-entropy)", "nats", False, "{:+.3f}", "retention",
                     "forgetting", leaderboard="narrow", trade_off="forgetting")
DRIFT = declare("drift", "final", "drift", "", False, "{:.4f}", "retention", "drift", leaderboard="wide",
                trade_off="forgetting", trade_off_name="drift")
BASE_CE = declare("base cross entropy", "final", "base model cross-entropy", "nats", None, "{:.3f}", "info")
TUNED_CE = declare("tuned cross entropy", "final", "tuned model cross-entropy", "nats", None, "{:.3f}", "info")
TRAIN_TOKENS = declare("train total tokens", "final", "training tokens", "tokens", None, "{:,.0f}", "info")

# What fine-tuning costs afterwards (afterwards/): retention of other capabilities, generation speed.
INSTRUCTIONS = declare("instruction following", "final", "instruction following (pass rate)", "", True, "{:.1%}",
                       "retention")
BASE_INSTRUCTIONS = declare("base instruction following", "final", "base model instruction following", "", None,
                            "{:.1%}", "retention")
INSTRUCTIONS_DELTA = declare("instruction following delta", "final", "instruction following Δ (tuned - base)", "",
                             True, "{:+.1%}", "retention", leaderboard="wide")
OVERHEAD_UNMERGED = declare("generation overhead unmerged", "final", "generation time vs base, adapter unmerged", "",
                            False, "{:+.0%}", "inference", leaderboard="wide", trade_off="inference")
OVERHEAD_MERGED = declare("generation overhead merged", "final", "generation time vs base, adapter merged", "",
                          False, "{:+.0%}", "inference")

# Costs of the run (train_info).
TRAIN_TIME = declare("train_time", "train_info", "train time (s)", "s", False, "{:.0f}", "cost", "train s",
                     leaderboard="narrow", trade_off="time", digits=1)
TOTAL_TIME = declare("total_time", "train_info", "total time (s)", "s", False, "{:.0f}", "cost", "total s", digits=1)
MEMORY_MAX = declare("accelerator_memory_max", "train_info", "train memory peak", "bytes", False, "mb", "cost",
                     "train mem MB", leaderboard="narrow", trade_off=MEMORY_AXIS, digits=2)
MEMORY_AVG = declare("accelerator_memory_reserved_avg", "train_info", "train memory mean", "bytes", False, "mb", "cost",
                     digits=2)
MEMORY_P99 = declare("accelerator_memory_reserved_99th", "train_info", "train memory p99", "bytes", False, "mb", "cost",
                     digits=2)
MEMORY_ALLOCATED = declare("accelerator_memory_allocated_max", "train_info", "train memory peak (CUDA allocated)",
                           "bytes", False, "mb", "cost", digits=2)
# Device-independent training memory (telemetry/memory_accounting.py): what the step must hold, counted tensor by
# tensor; the same run gives the same figure. Reports rank CPU runs by it (RSS depends on the allocator).
ACCOUNTED_MAX = declare("accounted_memory_max", "train_info", "train memory peak (accounted)", "bytes", False, "mb",
                        "cost", "acct mem MB", leaderboard="narrow", trade_off=MEMORY_AXIS, digits=2)
ACCOUNTED_AVG = declare("accounted_memory_avg", "train_info", "train memory mean (accounted)", "bytes", False, "mb",
                        "cost", digits=2)
EVAL_MEMORY = declare("eval_memory_max", "train_info", "eval memory peak", "bytes", False, "mb", "cost", digits=2)
FILE_SIZE = declare("file_size", "train_info", "file size", "bytes", False, "kb", "cost", "file KB",
                    leaderboard="narrow", trade_off="size", digits=2)
TRAINABLE = declare("num_trainable_params", "train_info", "trainable parameters", "", False, "{:,.0f}", "cost",
                    "trainable", leaderboard="wide", digits=0)
TOTAL_PARAMS = declare("num_total_params", "train_info", "total parameters", "", None, "{:,.0f}", "info", digits=0)

# Every logging window (train_info.metrics rows before the final one).
TOKENS_PER_SEC = declare("tokens / sec", "window", "tokens/s", "tokens/s", True, "{:.0f}", "cost", "tok/s",
                         run_mean=True, digits=1)
SAMPLES_PER_SEC = declare("samples / sec", "window", "samples/s", "samples/s", True, "{:.1f}", "cost", digits=1)
TRAIN_LOSS = declare("train loss", "window", "train loss", "nats", None, "{:.3f}", "info", trl="loss")
TRAIN_SAMPLES = declare("train samples", "window", "training samples so far", "", None, "{:,.0f}", "info")
WINDOW_TRAIN_TIME = declare("train time", "window", "training time of the window (s)", "s", None, "{:.1f}", "info")
EVAL_TIME = declare("eval time", "window", "validation time of the window (s)", "s", None, "{:.1f}", "info")
ELAPSED = declare("elapsed time", "window", "time since training started (s)", "s", None, "{:.1f}", "info")

# Reinforcement learning (trainer grpo): TRL's figures per step, the report's reward curves.
REWARD = declare("reward", "window", "training reward (mean of the sampled answers)", "", True, "{:.3f}", "rl",
                 trl="reward")
REWARD_STD = declare("reward std", "window", "reward std within groups", "", None, "{:.3f}", "rl", trl="reward_std")
KL = declare("kl", "window", "KL to the starting model", "nats", None, "{:.4f}", "rl", trl="kl")
COMPLETION_LENGTH = declare("completion length", "window", "sampled answer length", "tokens", None, "{:.1f}", "rl",
                            trl="completions/mean_length")
NO_SIGNAL = declare("groups without signal", "window", "share of groups whose answers all scored alike", "", None,
                    "{:.0%}", "rl", trl="frac_reward_zero_std")


def metric(key: str) -> Metric | None:
    """The declaration of `key`; an undeclared `test …`/`valid …` key is a quality metric."""
    if key in METRICS:
        return METRICS[key]
    if key.startswith(("test ", "valid ")):
        return Metric(key, "final" if key.startswith("test ") else "window", key, "", True, "{:.3f}", "quality")
    return None


def direction(key: str) -> bool:
    """True when higher is better. Unknown keys are costs (lower is better); counters too."""
    known = metric(key)
    return bool(known and known.higher_is_better)


def of_role(role: Role, where: Where | None = None) -> list[Metric]:
    """The declared metrics of a role (and of one place in the record), in declaration order."""
    return [m for m in METRICS.values() if m.role == role and where in (None, m.where)]


def table_metrics() -> list[Metric]:
    """The metrics of the terminal comparison table, in declaration order."""
    return [m for m in METRICS.values() if m.short]


def run_table_metrics() -> list[Metric]:
    """The columns of a runs table (report, dashboard, export): quality and cost metrics of the final
    row and of train_info, plus the per-run window ones (`run_mean`); counters are left out."""
    return [m for m in METRICS.values() if m.higher_is_better is not None and (m.where != "window" or m.run_mean)]


def leaderboard_columns(narrow: bool = False) -> list[str]:
    """The metric columns of a leaderboard besides its main metric, in reading order (`narrow`: those
    of the narrow one, a terminal's or a front page's width)."""
    boards = ("narrow",) if narrow else ("narrow", "wide")
    return [m.key for m in METRICS.values() if m.leaderboard in boards]


def trade_offs() -> dict[str, list[str]]:
    """Trade-off axis -> its metrics, the axes in the order the report shows them, each axis's metrics
    in declaration order (the first with values is plotted; see TRADE_OFF_AXES)."""
    return {axis: [m.key for m in METRICS.values() if m.trade_off == axis] for axis in TRADE_OFF_AXES}


def trade_off_metrics() -> list[str]:
    """Every metric on a trade-off axis, axis by axis."""
    return [key for keys in trade_offs().values() for key in keys]


def memory_keys() -> list[str]:
    """The training-memory figures a run can be ranked by (`analysis.load.memory_key` picks one)."""
    return trade_offs()[MEMORY_AXIS]


def front_name(key: str) -> str:
    """A trade-off metric's word in the leaderboard's "Pareto front vs" cells ("memory", "time", ...)."""
    known = METRICS.get(key)
    return known.front_name if known else key


def ordered_columns(columns: Iterable[object]) -> list[str]:
    """Of `columns` (those with values), the metric ones in reading order: the registry's runs-table
    metrics as declared, then undeclared `test …` keys alphabetically."""
    present = set(columns)
    known = [m.key for m in run_table_metrics() if m.key in present]
    extra = sorted(c for c in present if isinstance(c, str) and c.startswith("test ") and c not in known)
    return known + extra


def fmt_of(key: str) -> str:
    """The format of a metric ("" when undeclared and not a quality metric)."""
    known = metric(key)
    return known.fmt if known else ""


def format_value(value: float | None, key: str, units: bool = False) -> str:
    """A figure as every table and report shows it: by its metric's format ("{:.3g}" when undeclared),
    byte counts in MB or KB (`units`: with " MB"/" KB" after the number, for cells under a header that
    does not say it); missing (None, NaN) as an empty cell, never a made-up number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    how = fmt_of(key) or "{:.3g}"
    if how in ("mb", "kb"):
        unit, scale = ("MB", 2**20) if how == "mb" else ("KB", 2**10)
        return f"{value / scale:,.0f}" + (f" {unit}" if units else "")
    return how.format(value)


def is_bytes(key: str) -> bool:
    return fmt_of(key) in ("mb", "kb")


def is_fraction(key: str) -> bool:
    """Shown as a percentage (accuracies): differences then read as percentage points."""
    return "%" in fmt_of(key)


def label(key: str) -> str:
    known = METRICS.get(key)
    return known.label if known else key
