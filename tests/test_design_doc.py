"""docs/design.md's "Layout" names every module of src/peftbench/ and only modules that exist: a module
added, moved or removed without its line there fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "peftbench"


def _layout_block() -> list[str]:
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1].splitlines()


def _listed() -> tuple[set[str], set[str]]:
    """(modules, folders) the tree under `src/peftbench/` names, as paths relative to the package.
    Two spaces of indent per level; a line whose first word ends in neither .py nor / describes the
    entry above it."""
    modules, folders, stack, inside = set(), set(), [], False
    for line in _layout_block():
        if line.strip() == "src/peftbench/":
            inside = True
            continue
        if not inside or not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:  # the tree of src/peftbench/ ends at the next top-level folder
            break
        name = line.split()[0]
        if not name.endswith((".py", "/")):
            continue
        assert indent % 2 == 0, f"odd indent in the layout: {line!r}"
        level = indent // 2
        assert level <= len(stack) + 1, f"layout entry deeper than its folder: {line!r}"
        stack = stack[: level - 1]
        path = "/".join([*stack, name.rstrip("/")])
        if name.endswith("/"):
            folders.add(path)
            stack.append(name.rstrip("/"))
        else:
            modules.add(path)
    return modules, folders


def _modules() -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if p.name != "__init__.py" and p.relative_to(PACKAGE).parts[0] != "experiments"}


def test_layout_names_every_module():
    listed, _ = _listed()
    missing = sorted(_modules() - listed)
    assert not missing, f"modules missing from docs/design.md, Layout: {missing}"


def test_layout_names_no_module_that_does_not_exist():
    listed, folders = _listed()
    assert not sorted(listed - _modules()), "docs/design.md, Layout, names modules that do not exist"
    assert not sorted(f for f in folders if not (PACKAGE / f).is_dir()), "docs/design.md, Layout, names missing folders"


def test_the_layout_is_read_at_all():
    listed, folders = _listed()
    assert {"metrics.py", "planning/plan.py", "tasks/from_file/spec.py"} <= listed and "tasks/minimath" in folders
