"""Verdicts: is an experiment better, worse, or not distinguishable from a reference — on the main metric
and on forgetting — with a 95% interval from a hierarchical bootstrap over seeds and test items,
corrected for the number of comparisons a table makes.

Why hierarchical: each resample draws seeds with replacement, then the test items with replacement (the
same items for both sides: the comparison is paired over items), and takes the mean difference. Seeds
carry a run-level effect shared by every item — a lucky initialisation or data order lifts a whole
run — which averaging the seeds per item and resampling items alone would treat as fixed, and then call
one lucky seed a significant difference. Resampling seeds first puts that spread into the interval.

Paired over seeds: the same seed gives every method the same data order and initial state, so when both
sides ran the same seed values, one draw of seeds serves both sides and what a seed does to every
method alike cancels (`paired` in the verdict); otherwise each side's seeds are drawn on their own.

Many comparisons: the verdicts a table shows on one metric are one family, corrected by Holm's step-down
method (family-wise error 5%): each verdict's interval is the bootstrap interval at its Holm level, so
"excludes zero" and the corrected decision agree. `benchmarks/calibration.py` measures the false-positive
rate and power of the whole procedure on simulated runs.

Rules: a verdict needs at least `MIN_SEEDS` distinct seeds on each side and a corrected interval that
excludes zero; with fewer seeds the output says "cannot decide" and why, whatever the interval. Reader
side: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from peftbench.analysis.predictions import iter_predictions, scan_scores
from peftbench.metrics import FORGETTING, INSTRUCTIONS, TEST_ACCURACY, direction

INSTRUCTIONS_SET = "instructions"  # the sidecar rows of instruction following (afterwards/retention.py)

MIN_SEEDS = 2
ALPHA = 0.05  # family-wise, per metric of a table
BETTER, WORSE, SAME, UNDECIDED = "better", "worse", "not distinguishable", "cannot decide"


@dataclass(frozen=True)
class Verdict:
    experiment: str
    reference: str
    metric: str  # the main metric (e.g. "test accuracy") or "forgetting"
    diff: float  # experiment - reference
    ci_low: float  # the interval at the verdict's corrected level (95% when it stands alone)
    ci_high: float
    n_items: int
    seeds: tuple[int, int]  # distinct seeds of the experiment, of the reference
    reason: str = ""  # why no verdict could be given (when `word` is UNDECIDED)
    p_value: float = math.nan  # two-sided, uncorrected (bootstrap)
    paired: bool = False  # seeds drawn jointly: both sides ran the same seed values
    family: int = 1  # comparisons corrected together (Holm); 1 = no correction

    @property
    def excludes_zero(self) -> bool:
        return math.isfinite(self.ci_low) and (self.ci_low > 0 or self.ci_high < 0)

    @property
    def testable(self) -> bool:
        return not self.reason and min(self.seeds) >= MIN_SEEDS

    @property
    def word(self) -> str:
        if not self.testable:
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

    @property
    def scheme(self) -> str:
        """How the interval was made, in a few words."""
        seeds = "seeds paired" if self.paired else "seeds unpaired"
        return f"{seeds}, Holm over {self.family}" if self.family > 1 else seeds

    def interval(self, points: bool) -> str:
        if not math.isfinite(self.diff):
            return ""
        if not math.isfinite(self.ci_low):
            return f"{self.diff * 100:+.1f} pts" if points else f"{self.diff:+.3f}"
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


@dataclass(frozen=True)
class Bootstrap:
    """The resampled differences of one comparison, and how they were drawn."""

    point: float
    draws: np.ndarray
    paired: bool  # seeds drawn jointly for both sides (the same seed values ran on each)

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        low, high = np.percentile(self.draws, [100 * alpha / 2, 100 * (1 - alpha / 2)])
        return float(low), float(high)

    def p_value(self) -> float:
        """Two-sided: twice the share of resamples on the far side of zero (+1 in both counts, so a
        finite number of resamples never claims p = 0)."""
        n = len(self.draws)
        tail = min(int(np.sum(self.draws <= 0)), int(np.sum(self.draws >= 0)))
        return min(1.0, 2 * (tail + 1) / (n + 1))


def bootstrap_difference(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None, paired: bool = False,
                         n_resamples: int = 10_000, seed: int = 0, chunk: int | None = None) -> Bootstrap:
    """The weighted mean over items of (mean over seeds of `a` - of `b`), resampled.

    `a` is seeds x items of the experiment, `b` of the reference, columns the same items. Each resample
    draws the items (shared by both sides) with replacement, and the seeds: unpaired, each side's seeds
    on their own; `paired` (row s of `a` and of `b` ran the same seed), one draw of seed rows for both
    sides, so what a seed does to every method alike cancels. `weights` per item (e.g. a text's token
    count, so forgetting stays a per-token mean); None = every item counts the same.

    A bootstrap of k seeds sees (k-1)/k of their variance; the seed rows are spread out by sqrt(k/(k-1))
    about their mean before drawing, so the seed stage is not too narrow with 3 or 5 seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ka, n = a.shape
    kb = b.shape[0]
    if paired and ka != kb:
        raise ValueError(f"paired comparison needs the same seeds on both sides, got {ka} and {kb}")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    point = float(np.sum(w * (a.mean(0) - b.mean(0))) / np.sum(w))
    rng = np.random.default_rng(seed)
    chunk = chunk or max(1, min(500, CHUNK_CELLS // max(n, 1)))
    if paired:
        rows = [(_inflated(a - b), None)]
    else:
        rows = [(_inflated(a), _inflated(b))]
    draws = []
    for start in range(0, n_resamples, chunk):
        r = min(chunk, n_resamples - start)
        seeds_a = _counts(rng, r, ka) / ka  # r x ka: each seed's share of the resample
        if paired:
            diff = seeds_a @ rows[0][0]
        else:
            diff = seeds_a @ rows[0][0] - (_counts(rng, r, kb) / kb) @ rows[0][1]
        items = _counts(rng, r, n) * w  # r x n: how often each item was drawn, weighted
        draws.append((items * diff).sum(1) / items.sum(1))
    return Bootstrap(point, np.concatenate(draws), paired)


def _inflated(y: np.ndarray) -> np.ndarray:
    """Seed rows moved away from their mean by sqrt(k/(k-1)): the seed-stage variance a bootstrap of k
    rows would otherwise underestimate by (k-1)/k. One row: unchanged."""
    k = y.shape[0]
    if k < 2:
        return y
    mean = y.mean(0, keepdims=True)
    return mean + (y - mean) * math.sqrt(k / (k - 1))


def hierarchical_bootstrap(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None,
                           n_resamples: int = 10_000, seed: int = 0, chunk: int | None = None,
                           paired: bool = False) -> tuple[float, float, float]:
    """(difference, 2.5%, 97.5%) of `bootstrap_difference`."""
    result = bootstrap_difference(a, b, weights, paired, n_resamples, seed, chunk)
    return (result.point, *result.interval(0.05))


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


def comparison(name: str, reference: str, metric: str, a: pd.DataFrame, b: pd.DataFrame,
               weights: pd.Series | None, n_resamples: int, seed: int,
               seeds: tuple[list, list] | None = None) -> tuple[Verdict, Bootstrap | None]:
    """One uncorrected comparison (95%) and its resamples (None when there is nothing to resample).
    `seeds`: the seed value of each row of `a` and of `b`; when both sides have the same distinct
    values, the rows are matched by seed and drawn jointly."""
    theirs = set(b.columns)
    shared = [c for c in a.columns if c in theirs]
    seeds_a, seeds_b = seeds if seeds is not None else ([None] * len(a), [None] * len(b))
    distinct = (_distinct(seeds_a), _distinct(seeds_b))
    if not shared:
        return Verdict(name, reference, metric, math.nan, math.nan, math.nan, 0, distinct, "no shared test items"), None
    paired = same_seeds(seeds_a, seeds_b)
    left, right = a[shared], b[shared]
    if paired:  # row i of each side: the same seed
        left = left.iloc[np.argsort(seeds_a, kind="stable")]
        right = right.iloc[np.argsort(seeds_b, kind="stable")]
    w = None if weights is None else weights[shared].to_numpy()
    result = bootstrap_difference(left.to_numpy(), right.to_numpy(), w, paired, n_resamples, seed)
    low, high = result.interval(ALPHA)
    return Verdict(name, reference, metric, result.point, low, high, len(shared), distinct,
                   p_value=result.p_value(), paired=paired), result


def _distinct(seeds: list) -> int:
    """Distinct seeds among runs (a run of unknown seed counts as its own)."""
    return len({s for s in seeds if s is not None}) + sum(s is None for s in seeds)


def same_seeds(seeds_a: list, seeds_b: list) -> bool:
    """Both sides ran each of the same seed values once (and at least 2 of them)."""
    return (None not in seeds_a and len(seeds_a) == len(set(seeds_a)) >= MIN_SEEDS
            and sorted(seeds_a) == sorted(seeds_b))


def holm(found: list[tuple[Verdict, Bootstrap | None]], alpha: float = ALPHA) -> list[Verdict]:
    """The verdicts of one family, corrected by Holm's step-down method: sorted by p-value, the i-th of m
    testable comparisons is tested at alpha / (m - i + 1) until one is not rejected; it and every later one
    get that one's level. Each verdict's interval becomes its bootstrap interval at its level, so it
    excludes zero exactly when Holm rejects. Untestable verdicts (too few seeds, no items) are not counted."""
    testable = sorted((i for i, (v, boot) in enumerate(found) if v.testable and boot is not None),
                      key=lambda i: found[i][0].p_value)
    m = len(testable)
    out = [v for v, _ in found]
    stopped_at = None
    for rank, index in enumerate(testable):
        verdict, boot = found[index]
        level = alpha / (m - rank)
        if stopped_at is None and verdict.p_value > level:
            stopped_at = level
        low, high = boot.interval(stopped_at if stopped_at is not None else level)
        if stopped_at is not None and (low > 0 or high < 0):
            low, high = min(low, 0.0), max(high, 0.0)  # the resolution of the resamples: keep Holm's decision
        out[index] = replace(verdict, ci_low=low, ci_high=high, family=m)
    return out


class Sidecars:
    """Each experiment's per-item matrices, read from its predictions sidecars at most once: a report's
    verdicts, power figures and default-vs-tuned pairs all read the same files. An experiment without
    sidecars, or with one that cannot be read (`warn` names it, once), has None. `seeds` holds the seed
    of each of an experiment's runs, in the order of the matrices' rows."""

    def __init__(self, runs: pd.DataFrame, test_sets: set[str] | None, score: str, warn=None):
        with_items = runs[runs["predictions_path"].notna()]
        groups = with_items.groupby("experiment", sort=False)
        self.paths = {name: list(group["predictions_path"]) for name, group in groups}
        self.seeds = {name: [None if pd.isna(s) else int(s) for s in group["seed"]] if "seed" in group
                      else [None] * len(group) for name, group in groups}
        self.test_sets, self.score, self.warn = test_sets, score, warn
        self._read: dict[str, tuple | None] = {}

    def get(self, name: str) -> tuple[pd.DataFrame, tuple[pd.DataFrame, pd.Series], pd.DataFrame] | None:
        """(item matrix, (forgetting matrix, token counts), instruction-following matrix) of one experiment."""
        if name not in self._read:
            self._read[name] = self._load(self.paths.get(name))
        return self._read[name]

    def _load(self, paths: list[str] | None):
        if not paths:
            return None
        try:
            return (item_matrix(paths, self.test_sets, self.score), forgetting_matrix(paths),
                    item_matrix(paths, {INSTRUCTIONS_SET}, "correct"))
        except ValueError as exc:
            if self.warn is not None:
                self.warn(f"skipped predictions {exc}")
            return None


def compute(runs: pd.DataFrame, reference: str, main: str, test_sets: set[str] | None, score: str,
            n_resamples: int = 10_000, seed: int = 0, warn=None, sidecars: Sidecars | None = None,
            correct: bool = True) -> list[Verdict]:
    """Every experiment of `runs` (one task, one source, no trials) against `reference`: the main metric,
    and forgetting where the sidecars have per-text rows; each metric's verdicts corrected together
    (Holm) unless `correct` is False (a caller that corrects a larger family itself). An experiment whose
    sidecar cannot be read is left out after `warn` names the file (the reference: no verdicts at all).
    `sidecars` shares what a caller already read."""
    return [v for v, _ in raw_comparisons(runs, reference, main, test_sets, score, n_resamples, seed, warn,
                                          sidecars, correct)]


def raw_comparisons(runs: pd.DataFrame, reference: str, main: str, test_sets: set[str] | None, score: str,
                    n_resamples: int = 10_000, seed: int = 0, warn=None, sidecars: Sidecars | None = None,
                    correct: bool = True) -> list[tuple[Verdict, Bootstrap | None]]:
    """`compute`, with each verdict's resamples (for a caller that corrects a family across calls)."""
    sidecars = sidecars or Sidecars(runs, test_sets, score, warn)
    found: list[tuple[Verdict, Bootstrap | None]] = []
    ref = sidecars.get(reference)
    if ref is None:
        return found
    ref_seeds = sidecars.seeds.get(reference, [])
    for name in runs["experiment"].unique():
        if name == reference:
            continue
        mine = sidecars.get(name)
        if mine is None:
            count = int((runs["experiment"] == name).sum())
            found.append((Verdict(name, reference, main, math.nan, math.nan, math.nan, 0,
                                  (count, _distinct(ref_seeds)), "no per-item predictions"), None))
            continue
        pair_seeds = (sidecars.seeds.get(name, []), ref_seeds)
        found.append(comparison(name, reference, main, mine[0], ref[0], None, n_resamples, seed, pair_seeds))
        (forget, tokens), ref_forget = mine[1], ref[1][0]
        if not forget.empty and not ref_forget.empty:
            found.append(comparison(name, reference, FORGETTING.key, forget, ref_forget, tokens, n_resamples, seed,
                                    pair_seeds))
        if not mine[2].empty and not ref[2].empty:  # the same prompts for both: the base's answers cancel
            found.append(comparison(name, reference, INSTRUCTIONS.key, mine[2], ref[2], None, n_resamples, seed,
                                    pair_seeds))
    return correct_by_metric(found) if correct else found


def correct_by_metric(found: list[tuple[Verdict, Bootstrap | None]]) -> list[tuple[Verdict, Bootstrap | None]]:
    """Holm within each metric's verdicts (the order of `found` kept)."""
    out = list(found)
    for metric in dict.fromkeys(v.metric for v, _ in found):
        indices = [i for i, (v, _) in enumerate(found) if v.metric == metric]
        for i, corrected in zip(indices, holm([found[i] for i in indices])):
            out[i] = (corrected, found[i][1])
    return out


@dataclass(frozen=True)
class NoiseFloor:
    """The seed-to-seed spread of the main metric, pooled over every experiment of a table that trained
    with 2+ seeds (differences below it are noise), and the reference's own."""

    metric: str
    pooled_sd: float  # sqrt of the seed variances pooled by degrees of freedom; NaN without 2+ seeds anywhere
    experiments: int  # experiments pooled
    runs: int
    reference: str
    reference_values: tuple[float, ...]  # the reference's main metric, per seed

    @property
    def reference_sd(self) -> float:
        values = self.reference_values
        return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan

    def describe(self, points: bool) -> str:
        if not self.experiments:
            return "noise floor unknown: no experiment has 2+ seeds"
        scale, unit = (100, " pts") if points else (1, "")
        own = (f"{self.reference}'s own {self.reference_sd * scale:.1f}{unit} over {len(self.reference_values)} seeds"
               if len(self.reference_values) > 1 else f"{self.reference} has 1 seed")
        return (f"noise floor: seed-to-seed standard deviation {self.pooled_sd * scale:.1f}{unit}, pooled over "
                f"{self.experiments} experiments ({self.runs} runs; {own})")


def noise_floor(runs: pd.DataFrame, reference: str, main: str) -> NoiseFloor | None:
    """The pooled seed-to-seed spread of the main metric over the table's trained experiments (baselines,
    which train nothing, left out) and the reference's own."""
    if main not in runs:
        return None
    squares, dof, pooled, count = 0.0, 0, 0, 0
    for name, group in runs.groupby("experiment", sort=False):
        values = group[main].dropna().to_numpy(dtype=float)
        if len(values) < 2 or str(group["method"].iloc[0]) == "base":
            continue
        squares += float(np.var(values, ddof=1)) * (len(values) - 1)
        dof += len(values) - 1
        pooled, count = pooled + 1, count + len(values)
    of_ref = runs.loc[runs["experiment"] == reference, main].dropna()
    return NoiseFloor(main, math.sqrt(squares / dof) if dof else math.nan, pooled, count, reference,
                      tuple(float(v) for v in of_ref))


def reference_experiment(runs: pd.DataFrame, name: str, metric: str) -> str | None:
    """What `--reference` names among `runs`: an experiment as is; a method -> its tuned default
    (`<m>/tuned-default`) when a search produced one, else as `stats.pick_reference` decides."""
    from peftbench.analysis.stats import pick_reference

    tuned = f"{name.lower()}/tuned-default"
    if name not in set(runs["experiment"]) and tuned in set(runs["experiment"]):
        return tuned
    return pick_reference(runs, name, metric)


def short_runs_note(paths: list, main: str = TEST_ACCURACY.key) -> str:
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
