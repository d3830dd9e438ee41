"""A missing optional dependency is one line naming the `pip install` that fixes it, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from peftbench.extras import MissingExtra, require, require_extra

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
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


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
