# syntax=docker/dockerfile:1
# syncd: one container, config and data as volumes, settings by environment.
# Build: docker build -t syncd .   (see deploy/ for compose and Kubernetes)

# --- build: the syncd wheel and every dependency's, so the runtime needs no compiler ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN pip install 'build>=1.2,<2'
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY connectors ./connectors
COPY publisher ./publisher
RUN python -m build --wheel --outdir /wheels . \
 && pip wheel --wheel-dir /wheels "$(ls /wheels/syncd-*.whl)[postgres,s3]"

# --- runtime: slim, non-root, no build tools -----------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNCD_CONFIG_DIR=/config \
    SYNCD_DATABASE_URL=sqlite:////data/syncd.db \
    SYNCD_PUBLISH_DIR=/data/public \
    SYNCD_HTTP_HOST=0.0.0.0 \
    SYNCD_HTTP_PORT=8080 \
    SYNCD_LOG_FORMAT=json \
    SYNCD_DEMO_CONFIG=/app/config/demo

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'syncd[postgres,s3]' \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin syncd \
 && mkdir -p /data /config /app/config \
 && chown syncd:syncd /data
# `syncd demo` works in the image too (docker run --rm -p 8080:8080 syncd demo).
COPY config/demo /app/config/demo

USER 10001:10001
WORKDIR /data
VOLUME ["/config", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SYNCD_HTTP_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["syncd"]
CMD ["run"]
