# PostgreSQL from Debian bookworm's packages (15), standing in for the official postgres image where
# no image registry is reachable (`make compose-test`). Same contract as the official image for
# what docker/compose.yaml uses: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB on first start,
# /docker-entrypoint-initdb.d/*.sql and *.sh run once on an empty data folder, data in
# /var/lib/postgresql/data, listening on every address with password (scram) logins from other
# hosts, pg_isready on PATH for the health check, run as user postgres.
ARG BASE=localhost/mlbedge-base:bookworm
FROM ${BASE}
ARG PG_MAJOR=15
# The package would create and start a cluster of its own at install time; the entrypoint makes one.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}" \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# SIGINT is PostgreSQL's fast shutdown: clients disconnected, no wait for them.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
