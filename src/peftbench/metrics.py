"""The metric registry: every figure a result record carries, declared once — its key in the record,
where it lives, label, unit, which direction is better, how it aggregates over seeds, how it is shown.

Writers (the run pipeline, the training loop) take keys from here; readers (tables, report, dashboard,
export) take labels, directions and formats from here. Adding a metric is one `declare(...)` plus its
computation. Task metrics are named by the task's main metric: `valid <m>` per window, `test <m>` at the
end (`test <m> <set>` for extra test sets); such keys that are not declared (a new task's, or the
reference suite's) are still read, as quality metrics (higher is better). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Where = Literal["final", "window", "train_info"]


@dataclass(frozen=True)
class Metric:
    key: str  # as written in the record
    where: Where  # final metrics row / every window row / train_info
    label: str  # for readers: axis labels, report headings
    unit: str  # "" for ratios and counts, "s", "bytes", "nats", "tokens/s", ...
    higher_is_better: bool | None  # None: a counter, neither better nor worse
    fmt: str  # a format spec, or "mb"/"kb" for byte counts
    short: str | None = None  # header in the terminal comparison table; None = not shown there
    aggregate: Literal["mean", "last"] = "mean"  # over seeds
    digits: int = 4  # rounding in the dashboard's table (after unit conversion)

    @property
    def is_bytes(self) -> bool:
        return self.fmt in ("mb", "kb")


METRICS: dict[str, Metric] = {}


def declare(key: str, where: Where, label: str, unit: str, higher_is_better: bool | None, fmt: str,
            short: str | None = None, digits: int = 4) -> Metric:
    if key in METRICS:
        raise ValueError(f"metric '{key}' is declared twice")
    METRICS[key] = metric = Metric(key, where, label, unit, higher_is_better, fmt, short, digits=digits)
    return metric


def task_metric(split: str, metric: str, test_set: str = "") -> str:
    """`valid accuracy`, `test accuracy`, `test accuracy gsm8k`: a task's main metric on a split."""
    return f"{split} {metric}" + (f" {test_set}" if test_set else "")


# Quality at the end of a run (final metrics row), in the order tables show them.
TEST_ACCURACY = declare("test accuracy", "final", "test accuracy", "", True, "{:.1%}", "test acc")
TEST_ACCURACY_GSM8K = declare("test accuracy gsm8k", "final", "GSM8K accuracy", "", True, "{:.1%}", "gsm8k acc")
TEST_SIMILARITY = declare("test similarity", "final", "similarity", "", True, "{:.3f}", "similarity")
BASE_SIMILARITY = declare("base similarity", "final", "base similarity (adapter off)", "", None, "{:.3f}", "base sim")
FORGETTING = declare("forgetting", "final", "forgetting (Δ cross-entropy)", "nats", False, "{:+.3f}", "forgetting")
DRIFT = declare("drift", "final", "drift", "", False, "{:.4f}", "drift")
BASE_CE = declare("base cross entropy", "final", "base model cross-entropy", "nats", None, "{:.3f}")
TUNED_CE = declare("tuned cross entropy", "final", "tuned model cross-entropy", "nats", None, "{:.3f}")
TRAIN_TOKENS = declare("train total tokens", "final", "training tokens", "tokens", None, "{:,.0f}")

# What fine-tuning costs afterwards (afterwards/): retention of other capabilities, generation speed.
INSTRUCTIONS = declare("instruction following", "final", "instruction following (pass rate)", "", True, "{:.1%}",
                       "instr")
BASE_INSTRUCTIONS = declare("base instruction following", "final", "base model instruction following", "", None,
                            "{:.1%}")
INSTRUCTIONS_DELTA = declare("instruction following delta", "final", "instruction following Δ (tuned - base)", "",
                             True, "{:+.1%}", "instr Δ")
OVERHEAD_UNMERGED = declare("generation overhead unmerged", "final", "generation time vs base, adapter unmerged", "",
                            False, "{:+.0%}", "gen +%")
OVERHEAD_MERGED = declare("generation overhead merged", "final", "generation time vs base, adapter merged", "",
                          False, "{:+.0%}")

# Costs of the run (train_info).
TRAIN_TIME = declare("train_time", "train_info", "train time (s)", "s", False, "{:.0f}", "train s", digits=1)
TOTAL_TIME = declare("total_time", "train_info", "total time (s)", "s", False, "{:.0f}", "total s", digits=1)
MEMORY_MAX = declare("accelerator_memory_max", "train_info", "train memory peak", "bytes", False, "mb", "train mem MB", digits=2)
MEMORY_AVG = declare("accelerator_memory_reserved_avg", "train_info", "train memory mean", "bytes", False, "mb", digits=2)
MEMORY_P99 = declare("accelerator_memory_reserved_99th", "train_info", "train memory p99", "bytes", False, "mb", digits=2)
MEMORY_ALLOCATED = declare("accelerator_memory_allocated_max", "train_info", "train memory peak (CUDA allocated)",
                           "bytes", False, "mb", digits=2)
# Device-independent training memory (telemetry/memory_accounting.py): what the step must hold, counted tensor by
# tensor; the same run gives the same figure. Reports rank CPU runs by it (RSS depends on the allocator).
ACCOUNTED_MAX = declare("accounted_memory_max", "train_info", "train memory peak (accounted)", "bytes", False, "mb",
                        "acct mem MB", digits=2)
ACCOUNTED_AVG = declare("accounted_memory_avg", "train_info", "train memory mean (accounted)", "bytes", False, "mb",
                        digits=2)
EVAL_MEMORY = declare("eval_memory_max", "train_info", "eval memory peak", "bytes", False, "mb", digits=2)
FILE_SIZE = declare("file_size", "train_info", "file size", "bytes", False, "kb", "file KB", digits=2)
TRAINABLE = declare("num_trainable_params", "train_info", "trainable parameters", "", False, "{:,.0f}", "trainable", digits=0)
TOTAL_PARAMS = declare("num_total_params", "train_info", "total parameters", "", None, "{:,.0f}", digits=0)

# Every logging window (train_info.metrics rows before the final one).
TOKENS_PER_SEC = declare("tokens / sec", "window", "tokens/s", "tokens/s", True, "{:.0f}", "tok/s", digits=1)
SAMPLES_PER_SEC = declare("samples / sec", "window", "samples/s", "samples/s", True, "{:.1f}", digits=1)
TRAIN_LOSS = declare("train loss", "window", "train loss", "nats", None, "{:.3f}")
TRAIN_SAMPLES = declare("train samples", "window", "training samples so far", "", None, "{:,.0f}")
WINDOW_TRAIN_TIME = declare("train time", "window", "training time of the window (s)", "s", None, "{:.1f}")
EVAL_TIME = declare("eval time", "window", "validation time of the window (s)", "s", None, "{:.1f}")
ELAPSED = declare("elapsed time", "window", "time since training started (s)", "s", None, "{:.1f}")

# Reinforcement learning (trainer grpo): TRL's figures per step, the report's reward curves.
REWARD = declare("reward", "window", "training reward (mean of the sampled answers)", "", True, "{:.3f}")
REWARD_STD = declare("reward std", "window", "reward std within groups", "", None, "{:.3f}")
KL = declare("kl", "window", "KL to the base model", "nats", None, "{:.4f}")
COMPLETION_LENGTH = declare("completion length", "window", "sampled answer length", "tokens", None, "{:.1f}")
NO_SIGNAL = declare("groups without signal", "window", "share of groups whose answers all scored alike", "", None,
                    "{:.0%}")

# The window metric tables show per run (its mean over windows), next to the final and train_info ones.
RUN_LEVEL_WINDOW_METRICS = (TOKENS_PER_SEC.key,)


def metric(key: str) -> Metric | None:
    """The declaration of `key`; an undeclared `test …`/`valid …` key is a quality metric."""
    if key in METRICS:
        return METRICS[key]
    if key.startswith(("test ", "valid ")):
        return Metric(key, "final" if key.startswith("test ") else "window", key, "", True, "{:.3f}")
    return None


def direction(key: str) -> bool:
    """True when higher is better. Unknown keys are costs (lower is better); counters too."""
    known = metric(key)
    return bool(known and known.higher_is_better)


def table_metrics() -> list[Metric]:
    """The metrics of the terminal comparison table, in declaration order."""
    return [m for m in METRICS.values() if m.short]


def format_value(value, key_or_fmt: str) -> str:
    """A figure as shown in tables: by its metric's format (or a format spec given directly; "mb"/"kb"
    for byte counts); None as an empty cell."""
    if value is None:
        return ""
    known = metric(key_or_fmt)
    how = known.fmt if known else key_or_fmt
    if how == "mb":
        return f"{value / 2**20:,.0f}"
    if how == "kb":
        return f"{value / 2**10:,.0f}"
    return how.format(value)


def run_table_metrics() -> list[Metric]:
    """The columns of a runs table (report, dashboard, export): quality and cost metrics of the final
    row and of train_info, plus the per-run window ones; counters are left out."""
    return [m for m in METRICS.values()
            if m.higher_is_better is not None and (m.where != "window" or m.key in RUN_LEVEL_WINDOW_METRICS)]


def ordered_columns(columns) -> list[str]:
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


def is_bytes(key: str) -> bool:
    return fmt_of(key) in ("mb", "kb")


def is_fraction(key: str) -> bool:
    """Shown as a percentage (accuracies): differences then read as percentage points."""
    return "%" in fmt_of(key)


def label(key: str) -> str:
    known = METRICS.get(key)
    return known.label if known else key
