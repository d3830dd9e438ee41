# The two entry points of the README. Both set up .venv on first use (scripts/setup.sh): the demo only what
# training needs, the tests every extra.
.PHONY: demo test test-install setup smoke docs

setup:
	bash scripts/setup.sh

demo:
	bash scripts/setup.sh --train
	.venv/bin/peftbench demo

test:
	bash scripts/setup.sh --browser
	.venv/bin/python -m pytest -q -n 2  # two workers: many tests wait on the subprocesses they start

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
