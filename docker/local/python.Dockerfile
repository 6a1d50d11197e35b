# Python 3.11 from Debian bookworm's packages, standing in for the official python:3.11-slim-bookworm
# where no image registry is reachable (`make compose-test`). Like the official image it has
# `python` on PATH, a working venv module and CA certificates for pip.
#
# Build context: a folder holding ca-certificates/, the certificate authorities the build host
# trusts beyond Debian's own (its /usr/local/share/ca-certificates/*.crt, often none; a TLS-
# inspecting proxy's CA, say), copied there by scripts/compose_test.sh: the image's pip reaches
# PyPI through the same network as the host, so it must trust what the host trusts.
ARG BASE=localhost/mlbedge-base:bookworm
FROM ${BASE}
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python
ENV LANG=C.UTF-8
CMD ["python"]
