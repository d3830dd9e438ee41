"""The README's minimath table is what `peftbench report` makes of the committed records."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_regenerated_from_the_committed_records():
    check = subprocess.run([sys.executable, "scripts/readme_results.py", "--check"], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
    assert check.returncode == 0, check.stderr


def _readme_results():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    return readme_results


def test_a_comparison_is_complete_only_with_every_search_settled_and_every_final_seed(tmp_path):
    """A kept default needs no finals of its own; a replaced one needs the winner's; an unsettled search holds
    the comparison open; the baselines count too."""
    import json
    from dataclasses import replace

    from test_analysis_load import write_run

    rr = _readme_results()
    comparison = replace(rr.TUNED, folder=tmp_path, methods="lora,ia3", seeds="0,1")

    def settle(method: str, kept: bool) -> None:
        folder = tmp_path / "tuned" / "minimath" / method / "tuned-default"
        folder.mkdir(parents=True)
        (folder / "tune.json").write_text(json.dumps({"kept_default": kept}))

    for name in ("lora/default", "ia3/default", "base/zero-shot", "base/k-shot"):
        for seed in (0, 1):
            write_run(tmp_path, name, seed=seed)
    state = rr.progress(comparison)
    assert state.searching == ["lora", "ia3"] and not state.complete

    settle("lora", kept=True)
    settle("ia3", kept=False)
    state = rr.progress(comparison)
    assert state.searching == [] and state.seeds_left == {"ia3/tuned-default": 2}
    write_run(tmp_path, "ia3/tuned-default", seed=0)
    assert rr.progress(comparison).seeds_left == {"ia3/tuned-default": 1}
    write_run(tmp_path, "ia3/tuned-default", seed=1)
    assert rr.progress(comparison).complete
