# The two entry points of the README. Both set up .venv on first use (scripts/setup.sh) from the committed
# lock (locks/): the demo only what training needs, the tests every extra.
.PHONY: demo test test-install test-latest lock setup smoke docs

setup:
	bash scripts/setup.sh

demo:
	bash scripts/setup.sh --train
	.venv/bin/peftbench demo

test:
	bash scripts/setup.sh --browser
	.venv/bin/python -m pytest -q -n 2  # two workers: many tests wait on the subprocesses they start

# Refresh locks/ to the newest versions pyproject.toml allows (uv); then `make test`, and commit both.
lock:
	bash scripts/lock.sh

# The suite against the newest versions pyproject.toml allows, unlocked, in .venv-latest (not part of CI):
# drift found on purpose, before a lock refresh. docs/install.md#locked-versions says what to do with it.
test-latest:
	PEFTBENCH_VENV=.venv-latest bash scripts/setup.sh --latest --browser
	.venv-latest/bin/python -m pytest -q -n 2

# Installation checks (virtualenvs built from PyPI, minutes): the reader-only install without torch,
# and the version floors of pyproject.toml (lowest allowed versions, reader tests).
test-install: setup
	.venv/bin/python -m pytest -q -m install

# Every shipped minimath experiment for 2 steps on the real offline model (~1 min each).
smoke: setup
	.venv/bin/peftbench smoke --task minimath

# The manual as a static site in site/ (mkdocs.yml; `mkdocs serve` for a live preview).
docs: setup
	.venv/bin/mkdocs build --strict
