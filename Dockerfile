# syntax=docker/dockerfile:1
# One image for every role: web (the default), worker, cron, engine, migrate.
#   docker build -t upscaler .
#   docker run --env-file prod.env upscaler            # gunicorn on :8000
#   docker run --env-file prod.env upscaler worker     # an RQ worker with its scheduler
# The steps are scripts (scripts/build.sh, scripts/entrypoint.sh, scripts/healthcheck.py)
# that also run, and are tested, outside Docker. `make image-test` builds this file with
# buildah and runs every role of the result (scripts/image_test.py). See docs/deploy.md.

# Debian 13's own python3 (3.13), not a python.org build: the same base on a Docker host
# (the official image) and on a machine that can only bootstrap Debian itself
# (`mmdebstrap --variant=minbase trixie`, passed as BASE; see docs/deploy.md).
ARG BASE=debian:trixie-slim

# --- python: the base plus Debian's interpreter; both later stages start here ---------------
FROM ${BASE} AS python
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# --- builder: a venv with the app's dependencies, wheels only ---------------------------------
FROM python AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /venv
ENV PATH=/venv/bin:$PATH
WORKDIR /src
# Only what the dependency list needs, so editing the code reuses this layer. Wheels only
# (numpy, Pillow, ncnn, psycopg, pyvips-binary ship cp313 manylinux wheels): no stage of
# this image has a compiler, and a package that needed one fails here, loudly. The one
# exception is pyvips, published as a source archive only: it is pure Python (cffi's ABI
# mode, loading pyvips-binary's libvips), so building it needs no compiler either.
COPY pyproject.toml README.md ./
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (`--secret
# id=ca,src=/etc/ssl/certs/ca-certificates.crt`): only the steps that reach PyPI see it,
# and no layer keeps it.
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && pip install --only-binary=:all: --no-binary=pyvips . \
 && pip check

# --- weights: the engine's Real-ESRGAN models, fetched and checked now, not at run time -------
FROM builder AS weights
COPY apixo_engine/ apixo_engine/
RUN --mount=type=secret,id=ca,required=false \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && ENGINE_MODEL_DIR=/models python -m apixo_engine.weights

# --- runtime: no compilers, no apt lists, a user of its own ----------------------------------
FROM python
ENV VIRTUAL_ENV=/venv \
    PATH=/venv/bin:$PATH \
    BIND=0.0.0.0:8000 \
    ENGINE_HOST=0.0.0.0 \
    DATA_DIR=/data \
    ENGINE_DATA_DIR=/data/engine \
    ENGINE_MODEL_DIR=/opt/upscaler/models
# /data (media, the engine's files, a SQLite file if you use one) is the only volume it
# writes; its home takes the odd dotfile (gunicorn's control socket). The folders exist in the image so a fresh named volume mounted there is theirs too.
RUN groupadd --system --gid 10001 upscaler \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/upscaler --shell /usr/sbin/nologin upscaler \
 && mkdir -p /data/media /data/engine \
 && chown -R upscaler:upscaler /data
COPY --from=builder /venv /venv
COPY --from=weights /models /opt/upscaler/models
WORKDIR /app
COPY . .
# Collect static files with a throwaway key and DEBUG off: hashed and compressed. Then
# check the weights once more where the engine will read them.
RUN scripts/build.sh --no-install \
 && python -m apixo_engine.weights
USER 10001:10001
EXPOSE 8000
# web: GET /healthz (database, Redis, a live worker); engine: its /healthz; other roles: ok.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
ENTRYPOINT ["scripts/entrypoint.sh"]
CMD ["web"]
