# Two commands for a fresh machine: `make run` (the app) and `make test` (every test).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres build image-test venv system-deps test-deps postgres-deps image-deps bench clean

# scripts/run.py migrates and creates the demo account once its Redis answers.
run: venv system-deps
	-$(PY) -m apixo_engine.weights
	$(PY) scripts/run.py

test: venv test-deps
	$(PY) -m apixo_engine.weights
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest --cov --cov-report=term --durations=15 $(PYTEST_ARGS)

# The same suite on a throwaway Postgres (a temp cluster on a free port, deleted after);
# CI runs both.
test-postgres: venv test-deps postgres-deps
	scripts/with-postgres.sh $(MAKE) --no-print-directory test

# The image's build step, here: collect static files for production (see docs/deploy.md).
build: venv
	PYTHON=$(PY) scripts/build.sh --no-install

# The container image, built from this checkout with Debian's own tools (no Docker engine)
# and smoke-tested: every role, and an upload and a link upscaled end to end. CI runs it.
# See docs/deploy.md, "The image without Docker".
image-test: venv system-deps image-deps
	$(PY) scripts/image_test.py $(IMAGE_TEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { p=$$(scripts/find-python.sh) && echo "Using $$p" && $$p -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --group test -e .
	touch $(STAMP)

# Debian packages, installed only when missing: redis-server (app and tests) and
# chromium (browser tests; Playwright drives Debian's build, never a downloaded one).
system-deps:
	@command -v redis-server >/dev/null || scripts/apt-install.sh redis-server

test-deps: system-deps
	@command -v chromium >/dev/null || scripts/apt-install.sh chromium fonts-dejavu-core

postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || scripts/apt-install.sh postgresql

# buildah builds and runs the image (chroot isolation: no daemon, no runc), mmdebstrap
# bootstraps its Debian base; uidmap lets the same tools run rootless.
image-deps:
	@command -v buildah >/dev/null && command -v mmdebstrap >/dev/null \
	  || scripts/apt-install.sh buildah mmdebstrap uidmap

bench: venv system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .coverage
