"""The terminal comparison table reads result records (reader side: no torch needed)."""

import json
import subprocess
import sys

from rich.console import Console

from peftbench.analysis.load import run_row
from peftbench.analysis.table import comparison_table
from peftbench.records.record import ResultRecord


def _record(name: str, acc: float, forgetting: float | None) -> dict:
    final = {"step": 10, "test accuracy": acc, "train loss": 0.5}
    if forgetting is not None:
        final["forgetting"] = forgetting
    return {
        "run_info": {"experiment_name": name},
        "train_info": {
            "status": "success", "train_time": 12.0, "total_time": 30.0, "accelerator_memory_max": 3 * 2**20,
            "num_trainable_params": 1234, "file_size": 2048, "memory_kind": "cpu-rss",
            "metrics": [{"step": 5, "tokens / sec": 100.0, "valid accuracy": 0.1}, {"step": 10, "tokens / sec": 300.0}, final],
        },
    }


def test_rows_take_final_metrics_and_mean_speed(tmp_path):
    row = run_row(ResultRecord.model_validate(_record("lora/x", 0.4, 0.02)), tmp_path / "lora--x.json")
    assert row["test accuracy"] == 0.4 and row["forgetting"] == 0.02
    assert row["tokens / sec"] == 200.0
    assert row["accelerator_memory_max"] == 3 * 2**20


def test_table_sorted_by_accuracy_and_missing_values_blank(tmp_path):
    paths = []
    for name, acc, forg in [("ia3/a", 0.2, None), ("lora/b", 0.5, 0.01)]:
        path = tmp_path / f"{name.replace('/', '--')}.json"
        path.write_text(json.dumps(_record(name, acc, forg)))
        paths.append(path)
    console = Console(width=200, record=True)
    console.print(comparison_table(paths))
    text = console.export_text()
    assert text.index("lora/b") < text.index("ia3/a")
    assert "50.0%" in text and "20.0%" in text
    ia3_line = next(line for line in text.splitlines() if "ia3/a" in line)
    assert "+0.010" not in ia3_line  # forgetting absent: shown empty, never a made-up value


def test_reader_does_not_import_torch():
    code = "import sys, peftbench.analysis.table, peftbench.records.results; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
