# Redis from Debian bookworm's packages (7.0), standing in for the official redis:7-bookworm where no
# image registry is reachable (`make compose-test`). Same contract as the official image: data and
# working folder /data, `redis-server ARGS` as the command, `redis-cli` for the health check,
# reachable from other containers without a config file, run as user redis.
ARG BASE=localhost/mlbedge-base:bookworm
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
CMD ["redis-server"]
