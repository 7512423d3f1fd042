#!/usr/bin/env bash
# The image's build step, runnable outside Docker too:
#   scripts/build.sh               install the Python packages, then collect static files
#   scripts/build.sh --no-install  only collect static files (the packages are there already)
# Packages come from $WHEELS (a folder of wheels, offline) when it is set, else from PyPI.
# Static files are collected into STATIC_ROOT (default staticfiles/) the way production
# serves them: hashed names and compressed copies for whitenoise.
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's virtualenv when there is one (a checkout), else the Python on PATH (the image).
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [ "${1:-}" != "--no-install" ]; then
  if [ -n "${WHEELS:-}" ]; then
    "$PYTHON" -m pip install --no-cache-dir --no-index --find-links "$WHEELS" upscaler
  else
    "$PYTHON" -m pip install --no-cache-dir .
  fi
fi
# Collecting reads the settings but needs no secret: a throwaway key, and DEBUG off so the
# manifest storage is used.
env -u SECRET_KEY_FILE DEBUG=false SECRET_KEY=build-only-not-a-secret \
  "$PYTHON" manage.py collectstatic --noinput --verbosity 0
echo "Static files collected into ${STATIC_ROOT:-staticfiles/}."
