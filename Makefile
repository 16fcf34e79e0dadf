# Two entry points, both safe to run again (the second run takes seconds).
PYTHON ?= python3
VENV_PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint bench setup setup-dev screenshots package package-test

setup:
	$(PYTHON) packaging/bootstrap.py

setup-dev:
	$(PYTHON) packaging/bootstrap.py --dev

run: setup
	.venv/bin/assistant

test: setup-dev
	QT_QPA_PLATFORM=offscreen $(VENV_PY) -m pytest
	$(VENV_PY) -m ruff check assistant tests packaging
	$(VENV_PY) -m mypy assistant

lint: setup-dev
	$(VENV_PY) -m ruff check assistant tests packaging
	$(VENV_PY) -m mypy assistant

bench: setup-dev
	for b in tests/bench/bench_*.py; do $(VENV_PY) $$b || exit 1; done

# Installers: the frozen app, .deb and .tar.gz in dist/ (own build env in build/venv).
package:
	$(PYTHON) packaging/build.py

# Build the .deb, install it, index/search/ask/--self-test with it, purge it (needs root).
package-test:
	$(PYTHON) packaging/package_test.py
