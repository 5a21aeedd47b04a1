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
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the packages needed to build (the full list also has linters,
# valgrind and gnuplot for development); the deps target installs them.
RUN make build BUILD=/build \
      PACKAGES="build-essential cmake pkg-config libnats-dev libsodium-dev liblmdb-dev libjansson-dev libyaml-dev libcmocka-dev" \
 && strip --strip-unneeded /build/vaultctl \
 && /build/vaultctl version

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libnats3.4 libsodium23 liblmdb0 libjansson4 libyaml-0-2 ca-certificates \
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
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["vaultctl", "health"]
ENTRYPOINT ["vaultctl"]
CMD ["serve"]
