"""The docs site builds with `mkdocs build --strict` (a broken link or missing page fails), and the
README's links and the commands the CLI offers are all covered."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs", reason="the docs site needs the [test] extra (mkdocs)")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
                           "-d", str(site)], capture_output=True, text=True, env=env, timeout=300)


def test_site_builds_strictly(tmp_path):
    done = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    pages = {p.parent.name for p in (tmp_path / "site").rglob("index.html")}
    assert {"install", "experiments", "metrics", "sweeps", "reading-results", "dashboard", "python-api"} <= pages


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with open(tmp_path / "docs" / "metrics.md", "a") as page:
        page.write("\nSee [nowhere](no-such-page.md).\n")
    done = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "no-such-page.md" in done.stdout + done.stderr


def test_readme_links_point_at_files():
    text = (ROOT / "README.md").read_text()
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    assert targets and all((ROOT / t).exists() for t in targets), [t for t in targets if not (ROOT / t).exists()]


def test_every_command_is_documented():
    from peftbench.cli import app
    from typer.main import get_command

    commands = set(get_command(app).commands)
    docs = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    missing = sorted(c for c in commands if f"peftbench {c}" not in docs)
    assert not missing, f"commands without a docs mention: {missing}"


def test_install_page_lists_every_extra_of_pyproject():
    """docs/install.md's extras table has a row for each extra pyproject.toml declares, and no other."""
    import tomllib

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    rows = [line for line in (ROOT / "docs/install.md").read_text().splitlines() if line.startswith("| `peftbench")]
    table = set(re.findall(r"`(?:peftbench)?\[([a-z]+)\]`", "\n".join(rows)))
    assert rows and table == extras, f"only in pyproject: {extras - table}; only in the table: {table - extras}"
