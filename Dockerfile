# syncd: one container, config and data as volumes, settings by environment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SYNCD_CONFIG_DIR=/config \
    SYNCD_DATABASE_URL=sqlite:////data/syncd.db \
    SYNCD_PUBLISH_DIR=/data/public \
    SYNCD_HTTP_HOST=0.0.0.0 \
    SYNCD_HTTP_PORT=8080 \
    SYNCD_LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY connectors ./connectors
COPY publisher ./publisher
COPY config ./config
RUN pip install '.[postgres]' \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin syncd \
 && mkdir -p /data /config \
 && chown syncd:syncd /data

ENV SYNCD_DEMO_CONFIG=/app/config/demo
USER syncd
VOLUME ["/config", "/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SYNCD_HTTP_PORT', '8080'), timeout=4)"
ENTRYPOINT ["syncd"]
CMD ["run"]
