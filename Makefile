# Two commands for a fresh machine: `make run` (the app) and `make test` (every test).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest venv system-deps bench clean

run: venv system-deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_demo_user
	$(PY) scripts/run.py

test: venv system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -m pytest --cov --cov-report=term $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { p=$$(scripts/find-python.sh) && echo "Using $$p" && $$p -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --group test -e .
	touch $(STAMP)

# Debian packages: redis-server (app and tests). Installed only when missing.
system-deps:
	@command -v redis-server >/dev/null || scripts/apt-install.sh redis-server

bench: venv system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache .coverage
