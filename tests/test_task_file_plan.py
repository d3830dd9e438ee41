"""Task files as registered tasks: `--task-file` and `experiments/<task>/task.yaml` make them plannable
like built-in tasks, their fingerprint enters the config hash, and a worker registers them again from
the plan's JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peftbench.errors import UserError
from peftbench.planning.experiment import config_hash
from peftbench.planning.plan import RunPlan, plan_run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unit-conversion"


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch, task_registry):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.getbasetemp() / "hf-datasets")


def copy_example(folder: Path) -> Path:
    shutil.copytree(EXAMPLE, folder)
    return folder / "task.yaml"


def test_task_file_plans_like_a_builtin_task(make_experiment):
    folder = make_experiment(task="unit-conversion", params={"max_steps": 2})
    plan = plan_run(folder, task_file=EXAMPLE / "task.yaml")
    assert (plan.task, plan.spec.kind, plan.spec.metric) == ("unit-conversion", "text", "accuracy")
    assert plan.spec.source == (EXAMPLE / "task.yaml").resolve()
    assert plan.cfg.max_steps == 2 and plan.cfg.generation_kwargs.max_new_tokens == 40  # the file's defaults
    assert plan.cfg.data.test_size == 100 and plan.cfg.query_template == "{query}"
    assert plan.config_hash != config_hash("unit-conversion", plan.cfg, None, 0)  # the fingerprint is in it
    assert plan.config_hash == config_hash("unit-conversion", plan.cfg, None, 0, plan.spec.fingerprint)


def test_task_file_beside_the_experiments_is_found(tmp_path, make_experiment):
    copy_example(tmp_path / "experiments" / "unit-conversion")
    plan = plan_run(make_experiment(task="unit-conversion", params={}))
    assert plan.spec.source == (tmp_path / "experiments" / "unit-conversion" / "task.yaml").resolve()


def test_task_file_keys_are_checked_at_planning(make_experiment):
    folder = make_experiment(task="unit-conversion", params={"data": {"gsm8k_test_size": 2}})
    with pytest.raises(UserError, match="unknown training parameter 'data.gsm8k_test_size'"):
        plan_run(folder, task_file=EXAMPLE / "task.yaml")


def test_name_must_match_the_experiment_folder(make_experiment):
    folder = make_experiment(task="conversions", params={})
    with pytest.raises(UserError) as err:
        plan_run(folder, task_file=EXAMPLE / "task.yaml")
    assert "task 'conversions'" in str(err.value) and "declares task 'unit-conversion'" in str(err.value)


def test_two_declarations_of_one_task_are_refused(tmp_path, make_experiment):
    beside = copy_example(tmp_path / "experiments" / "unit-conversion")
    folder = make_experiment(task="unit-conversion", params={})
    with pytest.raises(UserError, match="declared twice"):
        plan_run(folder, task_file=EXAMPLE / "task.yaml")
    other = copy_example(tmp_path / "elsewhere")
    from peftbench.tasks.from_file import register_task_file

    assert register_task_file(beside) is register_task_file(beside)  # the same file again: a no-op
    with pytest.raises(UserError, match=f"already declared by the task file {beside.resolve()}"):
        register_task_file(other)


def test_a_builtin_name_is_refused(tmp_path):
    from peftbench.tasks.from_file import register_task_file

    path = copy_example(tmp_path / "minimath")
    path.write_text(path.read_text().replace("name: unit-conversion", "name: minimath"))
    with pytest.raises(UserError, match="task 'minimath' is already declared by a built-in task"):
        register_task_file(path)


def test_edited_data_changes_the_hash_and_the_worker_notices(tmp_path, make_experiment, task_registry):
    task_file = copy_example(tmp_path / "task")
    folder = make_experiment(task="unit-conversion", params={})
    plan = plan_run(folder, task_file=task_file)
    sent = json.loads(json.dumps(plan.to_json()))
    assert sent["task_file"] == str(task_file.resolve())

    task_registry()  # a worker is a fresh process: it registers the task file from the plan again
    assert RunPlan.from_json(sent).config_hash == plan.config_hash

    test_rows = task_file.parent / "test.jsonl"
    test_rows.write_text(test_rows.read_text().replace('"answer": "5"', '"answer": "6"', 1))
    task_registry()
    with pytest.raises(UserError, match="config changed since the sweep planned it"):
        RunPlan.from_json(sent)


def test_planning_a_task_file_imports_no_model_stack(make_experiment):
    folder = make_experiment(task="unit-conversion", params={})
    code = ("import sys\nfrom peftbench.planning.plan import plan_run\n"
            f"plan_run({str(folder)!r}, task_file={str(EXAMPLE / 'task.yaml')!r})\n"
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


# --- the commands ----------------------------------------------------------------------------------

def invoke(*args: str):
    from typer.testing import CliRunner

    from peftbench.cli import app

    return CliRunner().invoke(app, [*map(str, args)], env={"COLUMNS": "250"})


def test_params_of_a_task_file():
    result = invoke("params", "--task-file", EXAMPLE / "task.yaml")
    assert result.exit_code == 0, result.output
    assert "unit-conversion" in result.output and "data.gsm8k_test_size" not in result.output
    row = next(line for line in result.output.splitlines() if "generation_kwargs.max_new_tokens" in line)
    assert " 40 " in row  # the task file's default, not minimath's 64


def test_run_with_a_broken_task_file_is_one_line_and_writes_nothing(tmp_path, make_experiment):
    task_file = copy_example(tmp_path / "task")
    task_file.write_text(task_file.read_text().replace("{from_unit}", "{form_unit}"))
    folder = make_experiment(task="unit-conversion", params={})
    result = invoke("run", folder, "--task-file", task_file, "--output-dir", tmp_path / "results")
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "\n" not in message and str(task_file) in message and "{form_unit}" in message and "prompt.template" in message
    assert not (tmp_path / "results").exists()


def test_sweep_takes_its_task_from_the_task_file(tmp_path, make_experiment):
    make_experiment(task="minimath", params={})  # another task's experiment: not part of this sweep
    make_experiment(task="unit-conversion", params={})
    result = invoke("sweep", tmp_path / "experiments", "--task-file", EXAMPLE / "task.yaml", "--dry-run",
                    "--output-dir", tmp_path / "results")
    assert result.exit_code == 0, result.output
    assert "unit-conversion" in result.output and "minimath" not in result.output
    assert "1 runs planned: 1 to run" in result.output


def test_smoke_sizes_fit_a_task_file(make_experiment):
    """`peftbench smoke` shares its text sizes between text tasks; the keys a task file's config lacks
    (minimath's GSM8K sample) are dropped, so they plan."""
    from peftbench.cli.presets import SMOKE_SIZES, known_keys
    from peftbench.tasks.from_file import register_task_file

    spec = register_task_file(EXAMPLE / "task.yaml")
    overrides = {**known_keys(SMOKE_SIZES[spec.kind], spec.config_model), "max_steps": 2}
    assert "gsm8k_test_size" not in overrides["data"]
    plan = plan_run(make_experiment(task="unit-conversion", params={}), overrides=overrides)
    assert plan.cfg.data.test_size == 4


# --- the manual stays true -------------------------------------------------------------------------

def manual_blocks(language: str) -> list[str]:
    """The manual's fenced code blocks in `language` ("" for plain ones), in order."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "tasks-from-files.md").read_text()
    blocks, current, lang = [], None, None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, lang = [], line[3:].strip()
            else:
                if lang == language:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_the_manuals_task_file_and_its_error_line(tmp_path, monkeypatch, task_registry):
    """The manual's my-qa task file plans on rows like its sample data, with the manual's three copied
    experiments; its example mistake gives exactly the line the manual shows."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "my-qa"
    folder.mkdir()
    sample = [json.loads(line) for line in manual_blocks("json")[0].splitlines()]
    assert set(sample[0]) == {"question", "answer"}
    rows = [{"question": f"What is item {i}?", "answer": f"Item {i}"} for i in range(300)]
    (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sample + rows))
    (folder / "task.yaml").write_text(manual_blocks("yaml")[0])
    for method in ("lora", "ia3", "ln_tuning"):  # the manual's copy loop
        shutil.copytree(EXAMPLE.parents[1] / "experiments" / "minimath" / method / "default",
                        tmp_path / "experiments" / "my-qa" / method / "default")
        plan = plan_run(f"experiments/my-qa/{method}/default", task_file="my-qa/task.yaml")
        assert plan.task == "my-qa" and plan.spec.source == (folder / "task.yaml").resolve()
    splits = plan.spec.create().splits()
    assert {name: len(ds) for name, ds in splits.items()} == {"train": 52, "valid": 50, "test": 200}

    (folder / "task.yaml").write_text(manual_blocks("yaml")[0].replace("{question}", "{questoin}"))
    task_registry()  # each command is a fresh process
    result = invoke("params", "--task-file", "my-qa/task.yaml")
    shown = next(block for block in manual_blocks("") if block.startswith("error: my-qa/task.yaml"))
    assert result.exit_code == 2 and result.output.strip() == shown.strip()
