#!/usr/bin/env bash
# One image, every role (the Dockerfile's ENTRYPOINT; runs the same outside Docker):
#   scripts/entrypoint.sh web      gunicorn serving upscaler_site.wsgi (BIND, default 127.0.0.1:$PORT)
#   scripts/entrypoint.sh worker   an RQ worker with its scheduler (run as many as you like)
#   scripts/entrypoint.sh cron     the periodic jobs, the reconciler among them (runcron; run exactly one)
#   scripts/entrypoint.sh engine   the embedded APIXO-compatible engine (ENGINE_HOST/_PORT/_DATA_DIR)
#   scripts/entrypoint.sh migrate  apply database migrations, then exit
#   scripts/entrypoint.sh manage <args>   any manage.py command
# Anything else is run as a command, e.g. `docker run ... bash`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The project's virtualenv when there is one (a checkout), else the Python on PATH (the image).
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
role=${1:-web}
[ $# -gt 0 ] && shift
case "$role" in
  web)
    # gthread workers: a slow upload or download holds a thread, not a whole process.
    # Gunicorn also reads GUNICORN_CMD_ARGS and FORWARDED_ALLOW_IPS from the environment.
    args=(--bind "${BIND:-127.0.0.1:${PORT:-8000}}"
      --workers "${WEB_CONCURRENCY:-2}" --threads "${WEB_THREADS:-4}"
      --timeout "${WEB_TIMEOUT:-120}" --graceful-timeout 30
      --access-logfile - --error-logfile -)
    # Heartbeat files on a tmpfs: a slow disk must not make gunicorn kill its workers.
    [ -d /dev/shm ] && [ -w /dev/shm ] && args+=(--worker-tmp-dir /dev/shm)
    exec "$PYTHON" -m gunicorn "${args[@]}" "$@" upscaler_site.wsgi:application
    ;;
  worker) exec "$PYTHON" manage.py rqworker default --with-scheduler "$@" ;;
  cron) exec "$PYTHON" manage.py runcron "$@" ;;
  engine) exec "$PYTHON" -m apixo_engine "$@" ;;
  migrate) exec "$PYTHON" manage.py migrate --noinput "$@" ;;
  manage) exec "$PYTHON" manage.py "$@" ;;
  *) exec "$role" "$@" ;;
esac
