"""Verdicts: is an experiment better, worse, or not distinguishable from a reference — on the main metric
and on forgetting — with a 95% interval from a paired, hierarchical bootstrap over seeds and test items.

Why hierarchical: each resample draws each experiment's seeds with replacement, then the test items with
replacement (the same items for both sides: the comparison is paired), and takes the mean difference.
Seeds carry a run-level effect shared by every item — a lucky initialisation or data order lifts a whole
run — which averaging the seeds per item and resampling items alone would treat as fixed, and then call
one lucky seed a significant difference. Resampling seeds first puts that spread into the interval. With
3 seeds the seed stage is coarse (a bootstrap of k values underestimates their variance by (k-1)/k), so
the interval is, if anything, a little narrow; `power.py` gives the analytic view of the same components.

Rules: a verdict needs at least `MIN_SEEDS` runs on each side and an interval that excludes zero; with
fewer seeds the output says "cannot decide" and why, whatever the interval. Reader side: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peftbench.analysis.predictions import iter_predictions, scan_scores
from peftbench.metrics import FORGETTING, direction

MIN_SEEDS = 2
BETTER, WORSE, SAME, UNDECIDED = "better", "worse", "not distinguishable", "cannot decide"


@dataclass(frozen=True)
class Verdict:
    experiment: str
    reference: str
    metric: str  # the main metric (e.g. "test accuracy") or "forgetting"
    diff: float  # experiment - reference
    ci_low: float
    ci_high: float
    n_items: int
    seeds: tuple[int, int]  # runs of the experiment, of the reference
    reason: str = ""  # why no verdict could be given (when `word` is UNDECIDED)

    @property
    def excludes_zero(self) -> bool:
        return math.isfinite(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0)

    @property
    def word(self) -> str:
        if self.reason or min(self.seeds) < MIN_SEEDS:
            return UNDECIDED
        if not self.excludes_zero:
            return SAME
        return BETTER if (self.diff > 0) == direction(self.metric) else WORSE

    @property
    def why(self) -> str:
        if self.reason:
            return self.reason
        if min(self.seeds) < MIN_SEEDS:
            return f"{self.seeds[0]} vs {self.seeds[1]} seeds; a verdict needs {MIN_SEEDS}+ on each side"
        return ""

    def interval(self, points: bool) -> str:
        if not math.isfinite(self.diff):
            return ""
        if points:
            return f"{self.diff * 100:+.1f} pts [{self.ci_low * 100:+.1f}, {self.ci_high * 100:+.1f}]"
        return f"{self.diff:+.3f} [{self.ci_low:+.3f}, {self.ci_high:+.3f}]"

    def describe(self, points: bool) -> str:
        text = self.interval(points)
        word = self.word
        tail = f"{word} ({self.why})" if word == UNDECIDED else f"{word} than {self.reference}" if word != SAME else word
        return f"{text}: {tail}" if text else tail


# Resample x item cells held at once (each array of them 16 MB as float64): a report over a million items
# stays within a few hundred MB instead of resamples x items.
CHUNK_CELLS = 2_000_000


def hierarchical_bootstrap(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None,
                           n_resamples: int = 10_000, seed: int = 0, chunk: int | None = None) -> tuple[float, float, float]:
    """(difference, 2.5%, 97.5%) of the weighted mean over items of (mean over seeds of `a` - of `b`).

    `a` is seeds x items of the experiment, `b` of the reference, columns the same items. Each resample
    draws the seeds of each side and the items (shared) with replacement. `weights` per item (e.g. a
    text's token count, so forgetting stays a per-token mean); None = every item counts the same."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ka, n = a.shape
    kb = b.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    point = float(np.sum(w * (a.mean(0) - b.mean(0))) / np.sum(w))
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(500, CHUNK_CELLS // max(n, 1)))
    draws = []
    for start in range(0, n_resamples, chunk):
        r = min(chunk, n_resamples - start)
        seeds_a = _counts(rng, r, ka) / ka  # r x ka: each seed's share of the resample
        seeds_b = _counts(rng, r, kb) / kb
        items = _counts(rng, r, n) * w  # r x n: how often each item was drawn, weighted
        diff = seeds_a @ a - seeds_b @ b
        draws.append((items * diff).sum(1) / items.sum(1))
    low, high = np.percentile(np.concatenate(draws), [2.5, 97.5])
    return point, float(low), float(high)


def _counts(rng, rows: int, n: int) -> np.ndarray:
    """rows x n: how many times each of n things is drawn in n draws with replacement, per row."""
    drawn = rng.integers(0, n, (rows, n)) + (np.arange(rows) * n)[:, None]
    return np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def item_matrix(paths: list[str], test_sets: set[str] | None, score: str) -> pd.DataFrame:
    """Runs x items of a per-item score (`correct` as 0/1, an image's `similarity`), items every run has."""
    columns = []
    for path in paths:
        scanned = scan_scores(path, score, test_sets)  # streamed: ids and scores only, never the texts
        if scanned is None:
            return pd.DataFrame()
        ids, scores = scanned
        columns.append(pd.Series(scores, index=pd.Index(ids, dtype=object)))
    return pd.concat(columns, axis=1, join="inner").T.reset_index(drop=True) if columns else pd.DataFrame()


def forgetting_matrix(paths: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Runs x texts of per-token cross-entropy on the forgetting sample, and each text's token count.
    Between two runs on the same texts, the base model's cross-entropy cancels: the difference in
    forgetting is the difference in cross-entropy."""
    per_token, tokens = [], None
    for path in paths:
        rows = pd.DataFrame(iter_predictions(path, forgetting=True), columns=["id", "nll", "tokens"])
        rows = rows.dropna().drop_duplicates("id").set_index("id")
        if rows.empty:
            return pd.DataFrame(), pd.Series(dtype=float)
        rows = rows[rows["tokens"].astype(float) > 0]
        per_token.append(rows["nll"].astype(float) / rows["tokens"].astype(float))
        tokens = rows["tokens"].astype(float) if tokens is None else tokens
    matrix = pd.concat(per_token, axis=1, join="inner").T.reset_index(drop=True) if per_token else pd.DataFrame()
    return matrix, (tokens.reindex(matrix.columns) if tokens is not None else pd.Series(dtype=float))


def _verdict(name: str, reference: str, metric: str, a: pd.DataFrame, b: pd.DataFrame,
             weights: pd.Series | None, n_resamples: int, seed: int) -> Verdict:
    theirs = set(b.columns)
    shared = [c for c in a.columns if c in theirs]
    seeds = (len(a), len(b))
    if not shared:
        return Verdict(name, reference, metric, math.nan, math.nan, math.nan, 0, seeds, "no shared test items")
    w = None if weights is None else weights[shared].to_numpy()
    diff, low, high = hierarchical_bootstrap(a[shared].to_numpy(), b[shared].to_numpy(), w, n_resamples, seed)
    return Verdict(name, reference, metric, diff, low, high, len(shared), seeds)


class Sidecars:
    """Each experiment's per-item matrices, read from its predictions sidecars at most once: a report's
    verdicts, power figures and default-vs-tuned pairs all read the same files. An experiment without
    sidecars, or with one that cannot be read (`warn` names it, once), has None."""

    def __init__(self, runs: pd.DataFrame, test_sets: set[str] | None, score: str, warn=None):
        with_items = runs[runs["predictions_path"].notna()]
        self.paths = {name: list(group["predictions_path"])
                      for name, group in with_items.groupby("experiment", sort=False)}
        self.test_sets, self.score, self.warn = test_sets, score, warn
        self._read: dict[str, tuple | None] = {}

    def get(self, name: str) -> tuple[pd.DataFrame, tuple[pd.DataFrame, pd.Series]] | None:
        """(item matrix, (forgetting matrix, token counts)) of one experiment."""
        if name not in self._read:
            self._read[name] = self._load(self.paths.get(name))
        return self._read[name]

    def _load(self, paths: list[str] | None):
        if not paths:
            return None
        try:
            return item_matrix(paths, self.test_sets, self.score), forgetting_matrix(paths)
        except ValueError as exc:
            if self.warn is not None:
                self.warn(f"skipped predictions {exc}")
            return None


def compute(runs: pd.DataFrame, reference: str, main: str, test_sets: set[str] | None, score: str,
            n_resamples: int = 10_000, seed: int = 0, warn=None, sidecars: Sidecars | None = None) -> list[Verdict]:
    """Every experiment of `runs` (one task, one source, no trials) against `reference`: the main metric,
    and forgetting where the sidecars have per-text rows. An experiment whose sidecar cannot be read is
    left out after `warn` names the file (the reference: no verdicts at all). `sidecars` shares what a
    caller already read."""
    sidecars = sidecars or Sidecars(runs, test_sets, score, warn)
    verdicts = []
    ref = sidecars.get(reference)
    if ref is None:
        return verdicts
    for name in runs["experiment"].unique():
        if name == reference:
            continue
        mine = sidecars.get(name)
        if mine is None:
            verdicts.append(Verdict(name, reference, main, math.nan, math.nan, math.nan, 0,
                                    (int((runs["experiment"] == name).sum()), len(sidecars.paths[reference])),
                                    "no per-item predictions"))
            continue
        verdicts.append(_verdict(name, reference, main, mine[0], ref[0], None, n_resamples, seed))
        (forget, tokens), ref_forget = mine[1], ref[1][0]
        if not forget.empty and not ref_forget.empty:
            verdicts.append(_verdict(name, reference, FORGETTING.key, forget, ref_forget, tokens, n_resamples, seed))
    return verdicts


@dataclass(frozen=True)
class NoiseFloor:
    experiment: str
    metric: str
    values: tuple[float, ...]  # the main metric of each seed

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan

    def describe(self, points: bool) -> str:
        if len(self.values) < 2:
            return f"noise floor unknown: {self.experiment} has {len(self.values)} seed (it needs 2+)"
        scale, unit = (100, " pts") if points else (1, "")
        spread = max(self.values) - min(self.values)
        return (f"noise floor: {self.experiment} varies from seed to seed by {self.std * scale:.1f}{unit} (std) "
                f"over {len(self.values)} seeds, range {spread * scale:.1f}{unit}")


def noise_floor(runs: pd.DataFrame, reference: str, main: str) -> NoiseFloor | None:
    """The reference's seed-to-seed spread of the main metric: differences below it are noise."""
    of_ref = runs[runs["experiment"] == reference]
    if of_ref.empty or main not in of_ref:
        return None
    return NoiseFloor(reference, main, tuple(float(v) for v in of_ref[main].dropna()))


def reference_experiment(runs: pd.DataFrame, name: str, metric: str) -> str | None:
    """What `--reference` names among `runs`: an experiment as is; a method -> its tuned default
    (`<m>/tuned-default`) when a search produced one, else as `stats.pick_reference` decides."""
    from peftbench.analysis.stats import pick_reference

    tuned = f"{name.lower()}/tuned-default"
    if name not in set(runs["experiment"]) and tuned in set(runs["experiment"]):
        return tuned
    return pick_reference(runs, name, metric)


def short_runs_note(paths: list, main: str = "test accuracy") -> str:
    """What a table of single runs (the demo) can and cannot say: the measured 95% half-width of a
    paired difference between its runs over the test items, and that it ranks nothing."""
    from peftbench.analysis.load import load_runs

    runs = load_runs(paths, warn=lambda message: None)
    with_items = runs[runs["predictions_path"].notna()]
    if len(with_items) < 2:
        return "One run per method: these runs are too short to rank anything."
    tasks = set(with_items["task"])
    matrices = [item_matrix([p], tasks, "correct") for p in with_items["predictions_path"]]
    first = matrices[0]
    widths = []
    for other in matrices[1:]:
        shared = [c for c in first.columns if c in set(other.columns)]
        if shared:
            _, low, high = hierarchical_bootstrap(other[shared].to_numpy(), first[shared].to_numpy(), n_resamples=2000)
            widths.append((high - low) / 2)
    n_items = len(first.columns)
    if not widths:
        return "One run per method: these runs are too short to rank anything."
    return (f"These are single, shortened runs (1 seed each, {n_items} test problems): the 95% interval of a "
            f"difference between two of them is about ±{max(widths) * 100:.0f} points over the test items alone, "
            "before seed-to-seed noise, so this table cannot rank the methods. For verdicts with intervals, "
            "see `peftbench tune` and `peftbench report`.")
