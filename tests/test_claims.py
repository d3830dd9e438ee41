"""The reference suite's headline claims, decided only by verdicts (analysis/claims.py)."""

import pandas as pd
import pytest

from peftbench.analysis import claims
from peftbench.analysis.report_data import TaskReport
from peftbench.analysis.verdicts import Verdict

PARAMS = {"lora/default": 4_884_480, "ia3/default": 57_600, "vera/default": 26_880, "lily/default": 5_000_000,
          "full-finetuning/default": 134_515_008, "base/zero-shot": 0, "ia3/tuned-default": 57_600}


def report(verdicts, reference="lora/default") -> TaskReport:
    summary = pd.DataFrame({"experiment": list(PARAMS), "method": [e.split("/")[0] for e in PARAMS],
                            "num_trainable_params mean": list(PARAMS.values())})
    return TaskReport(task="minimath", source="peftbench", model="m", main="test accuracy", metrics=["test accuracy"],
                      runs=pd.DataFrame(), summary=summary, reference=reference, verdicts=verdicts)


def v(experiment, metric, low, high, seeds=(3, 3)) -> Verdict:
    return Verdict(experiment, "lora/default", metric, (low + high) / 2, low, high, 100, seeds)


def statuses(found):
    return [c.status for c in found]


def test_two_methods_better_on_accuracy_and_small_ones_forgetting_less_hold():
    found = claims.check(report([v("lily/default", "test accuracy", 0.02, 0.08), v("ia3/default", "test accuracy", 0.01, 0.05),
                                 v("vera/default", "test accuracy", -0.03, 0.02),
                                 v("ia3/default", "forgetting", -0.2, -0.1), v("vera/default", "forgetting", -0.3, -0.05),
                                 v("lily/default", "forgetting", 0.1, 0.3)]))  # lily is larger: not counted
    assert statuses(found) == [claims.HOLDS, claims.HOLDS]
    assert "lily/default, ia3/default" in found[0].evidence and "2 better, 1 not distinguishable" in found[0].evidence
    assert "forget less: ia3/default, vera/default" in found[1].evidence


def test_one_better_is_not_several_and_a_smaller_method_forgetting_more_is_not_shown():
    found = claims.check(report([v("ia3/default", "test accuracy", 0.01, 0.05), v("vera/default", "test accuracy", -0.1, -0.01),
                                 v("ia3/default", "forgetting", -0.2, -0.1), v("vera/default", "forgetting", 0.05, 0.1)]))
    assert statuses(found) == [claims.NOT_SHOWN, claims.NOT_SHOWN]
    assert "1 worse" in found[0].evidence and "1 worse" in found[1].evidence


def test_a_method_counts_once_by_its_tuned_default():
    """Two experiments of one method are one method, judged by its tuned default (one chance, not two)."""
    found = claims.check(report([v("ia3/default", "test accuracy", 0.01, 0.05), v("ia3/tuned-default", "test accuracy", 0.02, 0.06)]))
    assert found[0].status == claims.NOT_SHOWN and "1 better" in found[0].evidence and "of 1 methods" in found[0].evidence
    found = claims.check(report([v("ia3/default", "test accuracy", 0.01, 0.05), v("ia3/tuned-default", "test accuracy", -0.02, 0.06),
                                 v("vera/default", "test accuracy", 0.01, 0.05)]))
    assert found[0].status == claims.NOT_SHOWN and "(vera/default)" in found[0].evidence


def test_one_seed_a_side_tells_nothing_and_baselines_and_full_finetuning_are_no_evidence():
    found = claims.check(report([v("ia3/default", "test accuracy", 0.1, 0.2, seeds=(1, 1)),
                                 v("base/zero-shot", "test accuracy", -0.4, -0.2),
                                 v("full-finetuning/default", "test accuracy", 0.1, 0.2),
                                 v("full-finetuning/default", "forgetting", -0.3, -0.2)]))
    assert statuses(found) == [claims.CANNOT_TELL, claims.CANNOT_TELL]
    assert "1 cannot decide" in found[0].evidence and "no smaller method" in found[1].evidence


@pytest.mark.parametrize("reference", ["ia3/default", None])
def test_claims_about_lora_need_a_lora_reference(reference):
    assert claims.check(report([v("lily/default", "test accuracy", 0.02, 0.08)], reference=reference)) == []


def rl_report(verdicts) -> TaskReport:
    names = ["lora/default", "lora/r1", "lora/pissa", "ia3/default"]
    summary = pd.DataFrame({"experiment": names, "method": [e.split("/")[0] for e in names]})
    return TaskReport(task="minimath-rl", source="peftbench", model="m", main="test accuracy", metrics=["test accuracy"],
                      runs=pd.DataFrame(), summary=summary, reference="lora/default", verdicts=verdicts)


def test_rl_claims_rank_one_needs_the_interval_inside_the_margin_and_pissa_must_be_worse():
    found = claims.check(rl_report([v("lora/r1", "test accuracy", -0.015, 0.03), v("lora/pissa", "test accuracy", -0.2, -0.05)]))
    assert statuses(found) == [claims.HOLDS, claims.HOLDS]
    assert "at most 2 points" in found[0].claim and "[-1.5, +3.0]" in found[0].evidence
    found = claims.check(rl_report([v("lora/r1", "test accuracy", -0.06, 0.03), v("lora/pissa", "test accuracy", -0.02, 0.05)]))
    assert statuses(found) == [claims.NOT_SHOWN, claims.NOT_SHOWN]  # a loss of 6 points not ruled out; pissa not worse
    found = claims.check(rl_report([v("lora/r1", "test accuracy", -0.01, 0.01, seeds=(1, 3))]))
    assert statuses(found) == [claims.CANNOT_TELL, claims.CANNOT_TELL]
    assert "seeds" in found[0].evidence and "no lora/pissa run" in found[1].evidence
