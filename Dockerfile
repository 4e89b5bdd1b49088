# FeedRelay in a container: the daemon, as a non-root user, the store on a volume.
#   docker build -t feedrelay .
#   docker run -d --name feedrelay --env-file feedrelay.env \
#     -v "$PWD/feedrelay.toml:/config/feedrelay.toml:ro" -v feedrelay-data:/data feedrelay
# `docker kill -s HUP feedrelay` reloads the config; `docker stop` lets posts in flight finish.
FROM python:3.11-slim

# The store lives on the volume, whatever [bot] database says.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FEEDRELAY_DATABASE=/data/feedrelay.sqlite

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN pip install '.[postgresql]' && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin feedrelay \
    && mkdir -p /data /config && chown feedrelay:feedrelay /data

USER feedrelay
WORKDIR /data
VOLUME /data

# Healthy while the daemon's loops tick: `feedrelay health` asks its /healthz ([web] listen;
# "127.0.0.1:8470" is enough for this check, "0.0.0.0:8470" with a token publishes the port).
# Without [web] in the config only the store is checked.
EXPOSE 8470
HEALTHCHECK --interval=1m --timeout=15s --start-period=1m --retries=3 \
    CMD ["feedrelay", "--config", "/config/feedrelay.toml", "-q", "health"]

STOPSIGNAL SIGTERM
CMD ["feedrelay", "--config", "/config/feedrelay.toml", "run"]
