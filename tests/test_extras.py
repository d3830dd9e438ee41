"""A missing optional dependency is one line naming the `pip install` that fixes it, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from peftbench.system.extras import MissingExtra, require, require_extra

ROOT = Path(__file__).resolve().parents[1]
# Run a CLI command in a child process where `modules` cannot be imported (as if not installed).
CHILD = textwrap.dedent("""
    import sys
    for name in {modules!r}:
        sys.modules[name] = None
    from peftbench.cli import app
    app({args!r})
""")


def _cli_without(modules: list[str], *args: str) -> subprocess.CompletedProcess:
    code = CHILD.format(modules=modules, args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(MissingExtra, match=r"^the dashboard needs gradio, which is not installed: "
                                           r"pip install 'peftbench\[dashboard\]'$"):
        require("gradio")
    assert require("json").dumps([]) == "[]"


def test_an_import_error_inside_an_installed_package_is_not_hidden(tmp_path, monkeypatch):
    # Reinstalling would not fix a broken package: its own ImportError propagates.
    (tmp_path / "broken_pkg").mkdir()
    (tmp_path / "broken_pkg" / "__init__.py").write_text("import no_such_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_it"):
        require("broken_pkg")
    with pytest.raises(MissingExtra, match=r"pip install 'peftbench\[all\]'"):
        require("no_such_package_at_all")


def test_require_extra_checks_every_module_of_the_extra(monkeypatch):
    require_extra("train")  # the development install has it
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psutil" else real(name, *a))
    with pytest.raises(MissingExtra, match=r"needs psutil.*pip install 'peftbench\[train\]'"):
        require_extra("train")


def test_dashboard_without_gradio_is_one_line(tmp_path):
    done = _cli_without(["gradio"], "dashboard", "--results", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: the dashboard needs gradio, which is not installed: "
                                   "pip install 'peftbench[dashboard]'")


@pytest.mark.parametrize("command", [["run", "experiments/minimath/lora/default"], ["sweep", "--dry-run"],
                                     ["demo"], ["smoke"]])
def test_training_commands_without_the_training_stack_are_one_line(command):
    done = _cli_without(["torch"], *command)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: training and evaluation (peftbench run, sweep, demo, smoke) needs torch, "
                                   "which is not installed: pip install 'peftbench[train]'")


def test_an_image_task_without_diffusers_stops_at_planning(monkeypatch):
    from peftbench.planning.plan import plan_run

    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingExtra, match=r"image tasks \(minigen, imagegen\) needs diffusers.*'peftbench\[image\]'"):
        plan_run(ROOT / "experiments" / "minigen" / "lora" / "r4")


def test_the_ray_executor_without_ray_is_one_line(monkeypatch):
    from peftbench.sweep import ray_exec

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtra, match=r"--executor ray\) needs ray.*pip install 'peftbench\[ray\]'"):
        ray_exec.connect(None, 1)
