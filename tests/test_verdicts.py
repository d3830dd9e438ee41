"""Verdicts and power on constructed predictions: better / worse / not distinguishable / cannot decide,
forgetting paired per text, seed variance in the interval, and the item count a target width needs."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from peftbench.analysis import power, verdicts
from peftbench.analysis.load import load_runs
from test_analysis_load import write_run

N = 200


def _correct(rate: float, seed: int, n: int = N) -> list[bool]:
    rng = np.random.default_rng(seed)
    return [bool(c) for c in rng.random(n) < rate]


def _with_forgetting(path, per_token: list[float]) -> None:
    """Append per-text forgetting rows (`nll` summed over `tokens`) to a run's sidecar."""
    sidecar = path.with_name(path.stem + ".predictions.jsonl")
    rows = [{"id": f"forgetting-{i}", "test_set": "forgetting", "nll": ce * 10, "tokens": 10} for i, ce in enumerate(per_token)]
    sidecar.write_text(sidecar.read_text() + "".join(json.dumps(r) + "\n" for r in rows))


def _verdicts(folder, reference="lora/default"):
    runs = load_runs(folder)
    found = verdicts.compute(runs, reference, "test accuracy", {"minimath"}, "correct", n_resamples=2000)
    return {(v.experiment, v.metric): v for v in found}


def test_better_worse_and_not_distinguishable(tmp_path):
    base = [_correct(0.35, 100 + i) for i in range(3)]  # lora: 35%
    for seed in range(3):
        write_run(tmp_path, "lora/default", seed=seed, correct=base[seed])
        # ia3: lora's answers plus 40 more items right -> clearly better
        write_run(tmp_path, "ia3/default", seed=seed, correct=[c or i < 40 for i, c in enumerate(base[seed])])
        # vera: lora's answers minus its right ones among the first 120 items -> clearly worse
        write_run(tmp_path, "vera/default", seed=seed, correct=[c and i >= 120 for i, c in enumerate(base[seed])])
        # loha: lora's answers with two items flipped -> no claim
        write_run(tmp_path, "loha/default", seed=seed, correct=[(not c) if i in (5, 6) else c for i, c in enumerate(base[seed])])
    found = _verdicts(tmp_path)
    assert found[("ia3/default", "test accuracy")].word == "better"
    assert found[("vera/default", "test accuracy")].word == "worse"
    assert found[("loha/default", "test accuracy")].word == "not distinguishable"
    better = found[("ia3/default", "test accuracy")]
    assert better.seeds == (3, 3) and better.n_items == N and better.ci_low > 0
    assert better.describe(points=True).endswith("better than lora/default")


def test_one_seed_never_makes_a_claim(tmp_path):
    write_run(tmp_path, "lora/default", correct=[False] * N)
    write_run(tmp_path, "ia3/default", correct=[True] * N)  # +100 points, yet one seed
    verdict = _verdicts(tmp_path)[("ia3/default", "test accuracy")]
    assert verdict.excludes_zero and verdict.word == "cannot decide"
    assert "1 vs 1 seeds" in verdict.describe(points=True)


def test_seed_variance_widens_the_interval(tmp_path):
    """Each seed of ia3 is uniformly better or worse on every item (a run-level effect): averaging seeds
    per item and resampling items alone would claim a difference; resampling seeds too does not."""
    truth = _correct(0.4, 7)
    for seed in range(3):
        write_run(tmp_path, "lora/default", seed=seed, correct=truth)
    shifts = {0: 40, 1: 40, 2: -30}  # items flipped to right (+) or to wrong (-) in each ia3 seed
    for seed, shift in shifts.items():
        answers = list(truth)
        flippable = [i for i, c in enumerate(truth) if c != (shift > 0)]
        for i in flippable[:abs(shift)]:
            answers[i] = shift > 0
        write_run(tmp_path, "ia3/default", seed=seed, correct=answers)
    verdict = _verdicts(tmp_path)[("ia3/default", "test accuracy")]
    assert verdict.word == "not distinguishable"
    a = np.array([[float(c) for c in _sidecar(tmp_path, "ia3--default" + (f"--seed{s}" if s else ""))] for s in range(3)])
    b = np.array([[float(c) for c in truth]] * 3)
    _, low, _ = verdicts.hierarchical_bootstrap(a.mean(0, keepdims=True), b[:1], n_resamples=2000)
    assert low > 0  # the same data with seeds averaged away would have claimed "better"


def _sidecar(folder, stem):
    path = folder / "minimath" / f"{stem}.predictions.jsonl"
    return [json.loads(line)["correct"] for line in path.read_text().splitlines()]


def test_forgetting_is_paired_per_text_and_lower_is_better(tmp_path):
    rng = np.random.default_rng(0)
    texts = rng.uniform(2.0, 4.0, 40)  # per-token cross-entropy of each text: shared difficulty
    for seed in range(3):
        ref = write_run(tmp_path, "lora/default", seed=seed, correct=_correct(0.3, seed))
        _with_forgetting(ref, list(texts + rng.normal(0, 0.01, 40)))
        less = write_run(tmp_path, "ia3/default", seed=seed, correct=_correct(0.3, seed))
        _with_forgetting(less, list(texts - 0.05 + rng.normal(0, 0.01, 40)))
    verdict = _verdicts(tmp_path)[("ia3/default", "forgetting")]
    assert verdict.diff == pytest.approx(-0.05, abs=0.01) and verdict.ci_high < 0
    assert verdict.word == "better"  # forgetting: lower is better


def test_reference_prefers_the_tuned_default(tmp_path):
    write_run(tmp_path, "lora/default", acc=0.3)
    write_run(tmp_path, "lora/tuned-default", acc=0.4)
    runs = load_runs(tmp_path)
    assert verdicts.reference_experiment(runs, "lora", "test accuracy") == "lora/tuned-default"
    assert verdicts.reference_experiment(runs, "lora/default", "test accuracy") == "lora/default"


def _simulate(rng, n, k, run_sd, item_sd=1.5, gap_sd=0.8):
    item = rng.normal(0, item_sd, n)
    gap = rng.normal(0, gap_sd, n)

    def side(offset):
        rows = []
        for _ in range(k):
            p = 1 / (1 + np.exp(-(-0.6 + offset + rng.normal(0, run_sd))))
            rows.append(rng.random(n) < p)
        return np.array(rows, dtype=float)

    return side(item + gap), side(item)


def test_components_predict_the_spread_of_reruns():
    """The analytic half-width matches the spread of the difference over many simulated reruns (new items
    and new seeds each time). Averaged over the reruns: one set of 3 seeds estimates the run-level
    variance only roughly, which is why the report shows the bootstrap's own interval too."""
    rng = np.random.default_rng(3)
    draws = [_simulate(rng, 300, 3, 0.2) for _ in range(300)]
    observed = 1.96 * np.std([a.mean() - b.mean() for a, b in draws])
    predicted = np.mean([power.components(a, b).half_width(300, 3) for a, b in draws])
    assert predicted == pytest.approx(observed, rel=0.15)


def test_items_needed_inverts_the_half_width():
    parts = power.Components(seed=0.0002, item=0.1, cell=0.1, n_items=100, seeds=(3, 3), accuracy=(0.35, 0.35))
    n = parts.items_needed(0.04, 3)
    assert parts.half_width(n, 3) <= 0.04 < parts.half_width(n - 1, 3)
    noisy = replace(parts, seed=0.001)
    assert math.isinf(noisy.items_needed(0.04, 3))  # run-level noise alone is wider than ±4 points
    assert math.isfinite(noisy.items_needed(0.04, 8))  # ... with 3 seeds, not with 8
    text = power.Power("a", "b", 0.1, noisy).describe()
    assert "±4 pts needs 3 seeds: more seeds, not more items; 5 seeds: 933 items; 8 seeds: 407 items at these" in text


def test_half_width_uses_t_with_few_seeds():
    """With the seed term alone, 3 seeds: t with 2 degrees of freedom (4.30), not 1.96."""
    parts = power.Components(seed=0.03, item=0.0, cell=0.0, n_items=400, seeds=(3, 3), accuracy=(0.35, 0.35))
    assert parts.half_width(400, 3) == pytest.approx(4.3027 * math.sqrt(0.01), rel=1e-3)


def test_paired_components_cancel_what_a_seed_does_to_both():
    """A seed that lifts both methods alike widens the unpaired interval, not the paired one."""
    rng = np.random.default_rng(0)
    lift = rng.normal(0, 0.15, (5, 1))
    base = rng.random((5, 400))
    a = (base < 0.4 + lift).astype(float)
    b = (rng.random((5, 400)) < 0.35 + lift).astype(float)
    paired, unpaired = power.components(a, b, paired=True), power.components(a, b)
    assert paired.paired and paired.seed < unpaired.seed / 5
    assert paired.half_width(400, 5) < unpaired.half_width(400, 5)


def test_pooling_shares_the_seed_variance():
    quiet = power.Power("a", "r", 0.05, power.Components(0.0, 0.1, 0.1, 400, (3, 3), (0.3, 0.3), True, 2))
    loud = power.Power("b", "r", 0.05, power.Components(0.002, 0.1, 0.1, 400, (3, 3), (0.3, 0.3), True, 2))
    pooled = power.pool([quiet, loud])
    assert [p.parts.seed for p in pooled] == [pytest.approx(0.001)] * 2 and pooled[0].parts.seed_dof == 4


def test_rescaling_to_35_percent():
    parts = power.Components(0.0, 0.1, 0.1, 100, (3, 3), (0.5, 0.5))
    scaled = parts.at_accuracy(0.35)
    assert scaled.item == pytest.approx(0.1 * 0.35 * 0.65 / 0.25)
    assert power.independent_items(0.35, 0.04, 3) == math.ceil(1.959963984540054 ** 2 * 2 * 0.35 * 0.65 / 3 / 0.04 ** 2)


def test_single_short_runs_say_they_rank_nothing(tmp_path):
    """The demo's note: single runs on 50 problems, with the interval width they actually have."""
    paths = [write_run(tmp_path, name, correct=_correct(rate, i, n=50))
             for i, (name, rate) in enumerate((("lora/default", 0.14), ("ia3/default", 0.28)))]
    note = verdicts.short_runs_note(paths)
    assert "1 seed each, 50 test problems" in note and "cannot rank the methods" in note
    width = int(note.split("about ±")[1].split(" ")[0])
    assert 8 <= width <= 25  # 50 items: a paired difference is known to no better than about ±10-20 points


def test_no_spread_gives_no_item_count():
    same = np.zeros((2, 10))
    parts = power.components(same, same)
    assert math.isnan(parts.items_needed()) and math.isnan(parts.at_accuracy(0.35).items_needed())
    assert "3 seeds: unknown (no spread measured)" in power.pair_power(same, same, "a", "b", 200).describe()
