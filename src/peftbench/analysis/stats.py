"""Statistics over runs: per-experiment mean / std / 95% CI across seeds, and a paired bootstrap of
accuracy differences over test items against a reference experiment.

Wording rule used by the report: a difference is "significant" only when its 95% interval excludes
zero; with one seed the across-seed interval is undefined (NaN), never ±0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from peftbench.analysis.load import Warn, default_warn
from peftbench.analysis.predictions import ItemIndex, aligned, dense_scores

GROUP_KEYS = ["source", "task", "experiment"]
CONFIDENCE = 0.95


def t_interval(values) -> tuple[float, float, float, float, int]:
    """(mean, std, CI low, CI high, n) of the finite values; Student-t interval, NaN when n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, math.nan, math.nan, 1
    std = float(x.std(ddof=1))
    if std == 0:  # identical seeds: the interval is the point, scipy would return NaN here
        return mean, 0.0, mean, mean, n
    low, high = stats.t.interval(CONFIDENCE, df=n - 1, loc=mean, scale=std / math.sqrt(n))
    return mean, std, float(low), float(high), n


def summarize(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per (source, task, experiment): `n_runs`, seeds, method, model, and for each metric
    `<m> mean`, `<m> std`, `<m> ci_low`, `<m> ci_high`, `<m> n` (number of runs that have it)."""
    rows = []
    for keys, group in runs.groupby(GROUP_KEYS, sort=False, dropna=False):
        row = dict(zip(GROUP_KEYS, keys))
        row.update(method=group["method"].iloc[0], model=group["model"].iloc[0], n_runs=len(group),
                   seeds=sorted(int(s) for s in group["seed"].dropna()))
        for metric in metrics:
            values = group[metric] if metric in group else []
            mean, std, low, high, n = t_interval(values)
            row.update({f"{metric} mean": mean, f"{metric} std": std, f"{metric} ci_low": low,
                        f"{metric} ci_high": high, f"{metric} n": n})
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PairedDiff:
    """Mean accuracy difference (experiment − reference) over the items both answered, with its
    percentile-bootstrap 95% interval."""

    diff: float
    ci_low: float
    ci_high: float
    n_items: int

    @property
    def significant(self) -> bool:
        return math.isfinite(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0)

    def describe(self, reference: str, points: bool = True) -> str:
        """The words the report uses: "higher"/"lower" only when the interval excludes zero.
        `points`: show a difference of fractions as percentage points (accuracy)."""
        if points:
            interval = f"{self.diff * 100:+.1f} pts [{self.ci_low * 100:+.1f}, {self.ci_high * 100:+.1f}]"
        else:
            interval = f"{self.diff:+.3f} [{self.ci_low:+.3f}, {self.ci_high:+.3f}]"
        if not self.significant:
            return f"{interval}: not distinguishable from {reference}"
        return f"{interval}: {'higher' if self.diff > 0 else 'lower'} than {reference}"


def item_scores(predictions_paths: list[str], test_sets: set[str] | None = None,
                score: str = "correct") -> pd.Series:
    """Per-item score (`correct` 0/1, or e.g. an image's `similarity`) averaged over the given runs
    (the seeds of one experiment), indexed by item id; an item counts only where every run scored it.
    `test_sets` keeps the rows of those sidecar `test_set` labels (a sidecar holds all of a run's sets:
    `test accuracy` is the task's own set, `test accuracy gsm8k` the set `gsm8k`). The sidecars are
    streamed: only ids and scores are kept."""
    index = ItemIndex()
    mean = dense_scores(predictions_paths, index, test_sets, score)
    if mean is None:
        return pd.Series(dtype=float)
    keep = np.isfinite(mean)
    ids = [item for item, kept in zip(index.keys(), keep) if kept]
    return pd.Series(mean[keep], index=pd.Index(ids, dtype=object), dtype=float)


def paired_bootstrap(scores: pd.Series, reference: pd.Series, n_resamples: int = 10_000,
                     seed: int = 0) -> PairedDiff | None:
    """Bootstrap over test items (resampled with replacement, same items for both sides) of the mean
    difference `scores - reference`; items matched by id. None when no item is shared."""
    both = pd.concat([scores, reference], axis=1, join="inner").dropna()
    if both.empty:
        return None
    return bootstrap_diffs((both.iloc[:, 0] - both.iloc[:, 1]).to_numpy(), n_resamples, seed)


# Up to this many items, scipy's bootstrap (what every report so far was computed with); above it the
# same resampling distribution is drawn without materialising resamples x items.
SCIPY_MAX_ITEMS = 20_000
BATCH_CELLS = 4_000_000  # resampled values held at once (32 MB of float64)
MULTINOMIAL_MAX_VALUES = 64  # draws held: resamples x values int64 (5 MB at 10k resamples)


def bootstrap_diffs(diffs: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> PairedDiff:
    """Percentile-bootstrap 95% interval of the mean of per-item differences, with memory bounded
    whatever the number of items."""
    mean = float(diffs.mean())
    if np.all(diffs == diffs[0]):  # no spread to resample (scipy warns and returns NaN)
        return PairedDiff(mean, mean, mean, len(diffs))
    n = len(diffs)
    rng = np.random.default_rng(seed)
    if n <= SCIPY_MAX_ITEMS:
        # The batch only bounds memory: scipy draws the same resamples whatever its size.
        result = stats.bootstrap((diffs,), np.mean, n_resamples=n_resamples, confidence_level=CONFIDENCE,
                                 method="percentile", batch=max(1, min(1000, BATCH_CELLS // n)), rng=rng)
        low, high = result.confidence_interval
        return PairedDiff(mean, float(low), float(high), n)
    means = _resampled_means(diffs, n_resamples, rng)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.percentile(means, [alpha * 100, (1 - alpha) * 100])
    return PairedDiff(mean, float(low), float(high), n)


def _resampled_means(diffs: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_resamples` resamples of `diffs` with replacement. With few distinct values (0/1
    accuracies give -1, 0, 1) a resample is fully described by how often it drew each value: a
    multinomial draw, exact and independent of the number of items."""
    n = len(diffs)
    values, counts = np.unique(diffs, return_counts=True)
    if len(values) <= MULTINOMIAL_MAX_VALUES:
        draws = rng.multinomial(n, counts / n, size=n_resamples)
        return draws @ values / n
    means = np.empty(n_resamples)
    step = max(1, BATCH_CELLS // n)
    for start in range(0, n_resamples, step):
        stop = min(n_resamples, start + step)
        means[start:stop] = diffs[rng.integers(0, n, (stop - start, n))].mean(axis=1)
    return means


def _dense_or_skip(paths: list[str], index: ItemIndex, test_sets, score: str, warn: Warn):
    """An experiment's per-item scores; None after a warning naming the sidecar that cannot be read
    (the experiment is then left out of the paired tests, as one without sidecars)."""
    try:
        return dense_scores(paths, index, test_sets, score)
    except ValueError as exc:
        warn(f"skipped predictions {exc}")
        return None


def pick_reference(runs: pd.DataFrame, name: str, metric: str) -> str | None:
    """The experiment a `--reference` names: an experiment (`lora/default`) as is; a method (`lora`)
    -> its `<method>/default` experiment if it exists, else its best by mean `metric`."""
    experiments = runs["experiment"].unique()
    if name in experiments:
        return name
    of_method = runs[runs["method"] == name.lower()]
    if of_method.empty:
        return None
    if f"{name.lower()}/default" in set(of_method["experiment"]):
        return f"{name.lower()}/default"
    if metric not in of_method:
        return str(of_method["experiment"].iloc[0])
    means = of_method.groupby("experiment")[metric].mean()
    return str(means.idxmax()) if means.notna().any() else str(means.index[0])


def compare_to_reference(runs: pd.DataFrame, reference: str, test_sets: set[str] | None = None,
                         score: str = "correct", n_resamples: int = 10_000, seed: int = 0,
                         warn: Warn | None = None) -> dict[str, PairedDiff]:
    """Paired bootstrap of every experiment in `runs` (one task, one source) against `reference`,
    using the predictions sidecars; experiments without sidecars are left out."""
    with_items = runs[runs["predictions_path"].notna()]
    index = ItemIndex()  # one id table for all experiments: each experiment is then one float array
    by_experiment = {name: _dense_or_skip(list(group["predictions_path"]), index, test_sets, score, warn or default_warn)
                     for name, group in with_items.groupby("experiment", sort=False)}
    if by_experiment.get(reference) is None:
        return {}
    out = {}
    for name, scores in by_experiment.items():
        if name != reference and scores is not None:
            mine, theirs = aligned(scores, by_experiment[reference])
            if len(mine):
                out[name] = bootstrap_diffs(mine - theirs, n_resamples, seed)
    return out
