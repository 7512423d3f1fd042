# syntax=docker/dockerfile:1
# One image for every role: web (the default), worker, cron, engine, migrate.
#   docker build -t upscaler .
#   docker run --env-file prod.env upscaler            # gunicorn on :8000
#   docker run --env-file prod.env upscaler worker     # an RQ worker with its scheduler
# The steps are scripts (scripts/build.sh, scripts/entrypoint.sh, scripts/healthcheck.py)
# that also run, and are tested, outside Docker. See docs/deploy.md.

# --- builder: wheels for the app's dependencies ----------------------------------------------
FROM python:3.13-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what the dependency list needs, so editing the code reuses this layer.
COPY pyproject.toml README.md ./
RUN pip wheel --wheel-dir /wheels .

# --- runtime ----------------------------------------------------------------------------------
FROM python:3.13-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/venv \
    PATH=/venv/bin:$PATH \
    BIND=0.0.0.0:8000 \
    ENGINE_HOST=0.0.0.0 \
    DATA_DIR=/data \
    ENGINE_DATA_DIR=/data/engine
# A user of its own; /data (media, the engine's files) is the only place it writes. The
# folders exist in the image so a fresh named volume mounted there is theirs too.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin upscaler \
 && mkdir -p /data/media /data/engine \
 && chown -R upscaler:upscaler /data \
 && python -m venv /venv
WORKDIR /app
COPY . .
# Install from the builder's wheels (offline; mounted, so they don't stay in a layer), then
# collect static files with a throwaway key and DEBUG off: hashed and compressed.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    WHEELS=/wheels scripts/build.sh
USER 10001:10001
EXPOSE 8000
# web: GET /healthz (database, Redis, a live worker); engine: its /healthz; other roles: ok.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
ENTRYPOINT ["scripts/entrypoint.sh"]
CMD ["web"]
