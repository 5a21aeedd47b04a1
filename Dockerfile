# swarm-vaultctl: `docker build -t swarm-vaultctl .`
#
# Two stages on debian:bookworm-slim. The build stage builds with the
# project's own Makefile (`make build`, whose deps target installs the
# Debian -dev packages when run as root); the runtime stage holds the binary,
# its runtime libraries and the default configuration, nothing else: no
# compiler, no shell tools beyond the base image, no SSH server, no cron, no
# default password. See docs/deployment.md.

FROM debian:bookworm-slim AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the packages needed to build the binary (the full list also has
# cmocka for the tests, linters, valgrind and gnuplot for development); the
# deps target installs them. In a layer of their own, before the sources, so
# a source change does not install them again.
ARG PACKAGES="build-essential cmake pkg-config libnats-dev libsodium-dev liblmdb-dev libjansson-dev libyaml-dev"
COPY Makefile .
RUN make deps BUILD=/build PACKAGES="$PACKAGES" \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
# The context is CMakeLists.txt, Makefile, src/ and docker/ (.dockerignore);
# the binary needs the first three (docker/ is the runtime's configuration,
# so a change there does not rebuild the binary).
COPY CMakeLists.txt ./
COPY src/ src/
# The binary only: no tests (they need cmocka), no benchmarks.
RUN make build BUILD=/build PACKAGES="$PACKAGES" \
      CMAKE_FLAGS="-DVAULTCTL_TESTS=OFF -DVAULTCTL_BENCH=OFF" \
 && strip --strip-unneeded /build/vaultctl \
 && /build/vaultctl version

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libnats3.4 libsodium23 liblmdb0 libjansson4 libyaml-0-2 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid so volume ownership is the same on every node. No password,
# no login shell.
RUN groupadd --system --gid 10001 vaultctl \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin vaultctl \
 && mkdir -p /app/config /app/data \
 && chown 10001:10001 /app/data \
 && chmod 0700 /app/data
COPY --from=build /build/vaultctl /usr/local/bin/vaultctl
COPY docker/config.yaml /app/config/config.yaml
# The NATS password is a Docker secret too (docker/config.yaml has none).
# Without the secret the service stops and names the missing file.
ENV VAULTCTL_NATS_PASS_FILE=/run/secrets/vault_nats_pass
WORKDIR /app
USER 10001:10001
VOLUME /app/data
# `vaultctl health` reads the health file the service rewrites every second
# (<storage.path>/.health) and fails when it is older than 10 s, when NATS
# is disconnected or when the store fails.
# Every 5 s: the first check (which turns the container healthy and lets
# Swarm count the task as up) comes 5 s after the start instead of 30 s.
# Docker 20.10 has no --start-interval (Docker 25+), so the interval itself
# is short; the check only reads a small file. Failures in the first 20 s
# do not count; 6 failures in a row (30 s, e.g. a NATS restart that takes
# longer) mark it unhealthy and Swarm replaces the task.
HEALTHCHECK --interval=5s --timeout=5s --start-period=20s --retries=6 CMD ["vaultctl", "health"]
ENTRYPOINT ["vaultctl"]
CMD ["serve"]
