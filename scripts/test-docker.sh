#!/usr/bin/env bash
# test-docker.sh - the container story on a real Docker engine (`make test-docker`).
#
# Not part of `make test`: it installs Debian's Docker package and
# debootstrap when missing, runs a Docker daemon, and so changes the host's
# network set-up (bridges, iptables rules). Run it as root.
#
#  1. Installs Docker and debootstrap from Debian if missing (one apt-get update).
#  2. Uses the system dockerd when one answers on /var/run/docker.sock;
#     otherwise starts one of its own (data root $DATA_ROOT, socket and
#     pidfile under $RUN_DIR) and stops exactly that process at the end.
#  3. Makes the base image debian:bookworm-slim with debootstrap when the
#     daemon has none (no registry here), and a NATS image
#     ($NATS_IMAGE: debian:bookworm-slim + Debian's nats-server).
#  4. Checks the build context (.dockerignore), builds the project's image
#     (`docker build -t swarm-vaultctl .`) and prints build time and size.
#     VAULTCTL_DOCKER_NO_CACHE=1 builds it with --no-cache (the full time).
#  5. Plain containers on a user network: image user 10001, what a start
#     without secrets prints, read-only root, healthy, set/get and the ACL
#     with the image's own client (`vaultctl request`), the audit events,
#     clean stop; then, as a control, the form without the audit login,
#     whose events nats-server refuses.
#  6. A single-node Swarm: the seed's bare `docker service create` (fails
#     clearly, names what is missing), the hardened form from
#     docs/deployment.md (serves), and deploy/stack.yml onto an existing
#     my-nats-network (converges, serves, read_only/cap_drop applied,
#     `docker stack rm` leaves the network).
#
# Every deployment runs as examples/nats-server.conf wants it: five secrets
# (vault_master_key, vault_nats_pass, nats_admin_pass, nats_agent_pass,
# nats_audit_pass), nats-server with ADMIN_/AGENT_/VAULT_/AUDIT_NATS_PASS,
# and vaultctl with VAULTCTL_AUDIT_NATS_USER=audit and
# VAULTCTL_AUDIT_NATS_PASS_FILE, since the vault user may not publish on
# vault.audit. Per deployment the audit checks: a subscriber (admin, in the
# NATS image, over bash's /dev/tcp) receives the events on vault.audit; the
# `status` reply's audit object shows published > 0, dropped 0, refused 0;
# the nats-server log has no Publish/Permissions Violation for vault.audit
# and vaultctl's log says the events go out as their own user.
#
# Prints PASS/FAIL per check and "N passed, M failed"; exits non-zero on a
# failure. Removes every container, service, stack, secret, network and
# volume it created and leaves the Swarm it initialised. It keeps the images
# (debian:bookworm-slim, $NATS_IMAGE, swarm-vaultctl and the build cache)
# in the daemon's data root, so the next run is warm.
set -u

SRC=$(cd "$(dirname "$0")/.." && pwd)
DOCKER=/usr/bin/docker            # Debian's CLI, matching its daemon
IMAGE=swarm-vaultctl
NATS_IMAGE=vaultctl-test-nats:latest
DATA_ROOT=${VAULTCTL_DOCKER_DATA_ROOT:-/var/lib/vaultctl-test-docker}
RUN_DIR=/run/vaultctl-test-docker
NET=vaultctl-test-net             # the plain containers' user network
PFX=vaultctl-test                 # names of everything created here
STACK=vault
HA_STACK=vaultha                 # deploy/stack-ha.yml
# The secrets of docs/deployment.md (and deploy/stack.yml), as files here and
# as Docker secrets in the Swarm.
SECRETS="vault_master_key vault_nats_pass nats_admin_pass nats_agent_pass nats_audit_pass"

passed=0
failed=0
T0=$(date +%s)
DOCKERD_PID=
SWARM_INITED=
CREATED_NATS_NET=
TMP=
PROBES=()

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     | /' <<<"$2" | tail -25; }
info() { echo "---- $*"; }
d()    { "$DOCKER" "$@"; }
# wait_until SECONDS COMMAND...: polls every second until COMMAND succeeds.
wait_until() {
    local n=$1; shift
    local i
    for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    return 1
}
elapsed() { echo $(($(date +%s) - T0)); }

# ---- cleanup ---------------------------------------------------------------

service_gone() { [ -z "$(d ps -aq --filter "label=com.docker.swarm.service.name=$1")" ]; }
stack_gone()   { [ -z "$(d ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]; }
ha_stack_gone() { [ -z "$(d ps -aq --filter "label=com.docker.stack.namespace=$HA_STACK")" ]; }

# What dockerd changes on the host's network, recorded before it starts so
# that the same is put back after it stops: its bridge docker0, its iptables
# chains and rules, the FORWARD policy (it sets DROP) and IP forwarding.
HOST_NET_SAVED=
save_host_network() {
    HAD_DOCKER0=$(ip link show docker0 >/dev/null 2>&1 && echo 1)
    HAD_CHAINS=$(iptables -S 2>/dev/null | grep -q '^-N DOCKER' && echo 1)
    FORWARD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
    IP_FORWARD=$(sysctl -n net.ipv4.ip_forward 2>/dev/null)
    HOST_NET_SAVED=1
}
undo_host_network() {
    [ -n "$HOST_NET_SAVED" ] || return 0
    [ -n "$HAD_DOCKER0" ] || ip link delete docker0 2>/dev/null
    if [ -z "$HAD_CHAINS" ] && command -v iptables >/dev/null; then
        local table rule chain
        for table in filter nat; do
            # Docker's rules in the built-in chains, then its own chains.
            iptables -t "$table" -S | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) .*(DOCKER|docker0)' |
                while read -r rule; do eval "iptables -t $table -D ${rule#-A }"; done
            for chain in $(iptables -t "$table" -S | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
                iptables -t "$table" -F "$chain"
            done
            for chain in $(iptables -t "$table" -S | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
                iptables -t "$table" -X "$chain"
            done
        done
    fi
    [ -n "$FORWARD_POLICY" ] && iptables -P FORWARD "$FORWARD_POLICY" 2>/dev/null
    [ -n "$IP_FORWARD" ] && sysctl -qw net.ipv4.ip_forward="$IP_FORWARD" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    info "cleanup"
    for p in "${PROBES[@]}"; do rm -rf "${SRC:?}/$p"; done
    if [ -n "$DOCKERD_PID$SWARM_INITED" ] || d info >/dev/null 2>&1; then
        d rm -f "$PFX-vault" "$PFX-vault-noaudit" "$PFX-nats" "$PFX-auditsub" >/dev/null 2>&1
        if [ -n "$SWARM_INITED" ]; then
            d stack rm "$STACK" "$HA_STACK" >/dev/null 2>&1
            d service rm vaultctl nats-server >/dev/null 2>&1
            wait_until 60 ha_stack_gone
            wait_until 60 stack_gone
            wait_until 60 service_gone vaultctl
            wait_until 60 service_gone nats-server
            d secret rm $SECRETS >/dev/null 2>&1
            d config rm "$PFX-nats-conf" >/dev/null 2>&1
        fi
        # Containers of the swarm (client runs) on the overlay must be gone
        # before the network can go.
        [ -n "$CREATED_NATS_NET" ] && wait_until 30 d network rm my-nats-network
        d network rm "$NET" >/dev/null 2>&1
        d volume rm "$PFX-data" "$PFX-seed-data" "${STACK}_vault-data" >/dev/null 2>&1
        d volume rm "${HA_STACK}_nats-1-data" "${HA_STACK}_nats-2-data" "${HA_STACK}_nats-3-data" \
            "${HA_STACK}_vault-cache" >/dev/null 2>&1
        if [ -n "$SWARM_INITED" ]; then
            d swarm leave --force >/dev/null 2>&1 || echo "warning: swarm leave failed"
            d network rm docker_gwbridge >/dev/null 2>&1
        fi
    fi
    if [ -n "$DOCKERD_PID" ]; then
        kill -TERM "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            echo "warning: dockerd $DOCKERD_PID did not stop in 30 s; killing it"
            kill -KILL "$DOCKERD_PID" 2>/dev/null
            sleep 1
        fi
        undo_host_network
        grep -q " $RUN_DIR" /proc/mounts || rm -rf "$RUN_DIR"
        info "stopped the dockerd this script started (pid $DOCKERD_PID); images are kept in $DATA_ROOT"
    fi
    [ -n "$TMP" ] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

summary() {
    echo "total $(elapsed) s"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
# A failure that makes the rest pointless.
abort() { fail "$1" "${2:-}"; summary; }

[ "$(id -u)" = 0 ] || { echo "test-docker: run as root (it installs Docker and starts dockerd)"; exit 2; }
TMP=$(mktemp -d /tmp/vaultctl-docker-XXXXXX)

# ---- 1. packages -----------------------------------------------------------

missing=
for p in docker.io debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    info "installing$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing) \
        >"$TMP/apt.log" 2>&1 || abort "install$missing" "$(tail -20 "$TMP/apt.log")"
fi

# ---- 2. the daemon ---------------------------------------------------------

if DOCKER_HOST=unix:///var/run/docker.sock d info >/dev/null 2>&1; then
    export DOCKER_HOST=unix:///var/run/docker.sock
    info "using the running system dockerd ($(d version -f '{{.Server.Version}}'))"
else
    mkdir -p "$RUN_DIR" "$DATA_ROOT"
    if [ -f "$RUN_DIR/dockerd.pid" ] && kill -0 "$(cat "$RUN_DIR/dockerd.pid")" 2>/dev/null; then
        abort "start dockerd" "a dockerd of an earlier run still runs (pid $(cat "$RUN_DIR/dockerd.pid")): stop it first"
    fi
    export DOCKER_HOST=unix://$RUN_DIR/docker.sock
    save_host_network
    # nice: its builds and containers share the machine's cores.
    nice -n 10 dockerd --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" \
        --pidfile "$RUN_DIR/dockerd.pid" -H "$DOCKER_HOST" >"$TMP/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    if ! wait_until 60 d info; then
        abort "start dockerd" "$(tail -20 "$TMP/dockerd.log")"
    fi
    info "started dockerd $(d version -f '{{.Server.Version}}') (pid $DOCKERD_PID, data root $DATA_ROOT)"
fi
[ -e /proc/net/ip_vs ] || info "no IPVS in this kernel: Swarm virtual IPs do not route here (the stack's NATS uses dnsrr)"

# ---- 3. base and NATS images -------------------------------------------------

make_base_image() {
    local root=$TMP/rootfs mirror src
    src=/etc/apt/sources.list.d/debian.sources
    mirror=$(awk '/^URIs:/ {print $2; exit}' "$src" 2>/dev/null)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || { echo "no Debian mirror in $src or /etc/apt/sources.list"; return 1; }
    nice debootstrap --variant=minbase bookworm "$root" "$mirror" >"$TMP/debootstrap.log" 2>&1 ||
        { tail -20 "$TMP/debootstrap.log"; return 1; }
    # The same sources as the host, in the same (deb822) form.
    if [ -f "$src" ]; then rm -f "$root/etc/apt/sources.list"; cp "$src" "$root/etc/apt/sources.list.d/"; fi
    # What the official slim image sets: no package caches kept after apt
    # runs, no docs/man pages/locales installed.
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    # And the same for what debootstrap installed (locales alone are 33 MB).
    find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
        "$root"/usr/share/lintian/* "$root"/usr/share/linda/* "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
    tar -C "$root" -c . | d import -c 'CMD ["bash"]' - debian:bookworm-slim >/dev/null || return 1
    # debootstrap unmounts what it mounted; never delete through a mount.
    if ! grep -q " $root/" /proc/mounts; then rm -rf "$root"; fi
}

t=$(date +%s)
if d image inspect debian:bookworm-slim >/dev/null 2>&1; then
    info "base image debian:bookworm-slim: present"
elif out=$(make_base_image 2>&1); then
    info "base image debian:bookworm-slim: made with debootstrap in $(($(date +%s) - t)) s"
else
    abort "make the base image debian:bookworm-slim" "$out"
fi

if ! d image inspect "$NATS_IMAGE" >/dev/null 2>&1; then
    t=$(date +%s)
    mkdir -p "$TMP/nats-image"
    cat >"$TMP/nats-image/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
EOF
    d build -q -t "$NATS_IMAGE" "$TMP/nats-image" >"$TMP/nats-build.log" 2>&1 ||
        abort "build the NATS image" "$(tail -20 "$TMP/nats-build.log")"
    info "NATS image $NATS_IMAGE: built in $(($(date +%s) - t)) s"
fi

# ---- 4. build context and image --------------------------------------------

# Junk of the kinds .dockerignore must keep out, next to the real ones (a
# worktree's .git file, build trees, .run/ with passwords).
PROBES=(build-dockerignore-probe .run-dockerignore-probe dockerignore-probe.key src/dockerignore-probe.o
        src/dockerignore-probe.mdb docker/dockerignore-probe.pass)
mkdir -p "$SRC/build-dockerignore-probe" "$SRC/.run-dockerignore-probe"
for p in "${PROBES[@]}"; do [ -d "$SRC/$p" ] || echo probe >"$SRC/$p"; done
ctx=$(printf 'FROM debian:bookworm-slim\nCOPY . /ctx\n' | d build -q -t "$PFX-context" -f - "$SRC" 2>&1 >/dev/null &&
      d run --rm "$PFX-context" sh -c 'cd /ctx && { find . -mindepth 1 -maxdepth 1; find . -name "*probe*"; } | sort -u' 2>&1 |
      tr '\n' ' ')
d rmi "$PFX-context" >/dev/null 2>&1
for p in "${PROBES[@]}"; do rm -rf "${SRC:?}/$p"; done
PROBES=()
want="./CMakeLists.txt ./Makefile ./docker ./src "
if [ "$ctx" = "$want" ]; then
    pass "build context is only CMakeLists.txt Makefile docker/ src/ (no .git, build*, .run, *.key, *.o, *.mdb, *.pass)"
else
    fail "build context holds only what the build needs" "got: $ctx"$'\n'"want: $want"
fi

t=$(date +%s)
nocache=()
[ -n "${VAULTCTL_DOCKER_NO_CACHE:-}" ] && nocache=(--no-cache)
if (cd "$SRC" && d build "${nocache[@]}" -t "$IMAGE" .) >"$TMP/build.log" 2>&1; then
    BUILD_S=$(($(date +%s) - t))
    SIZE=$(d image inspect -f '{{.Size}}' "$IMAGE")
    SIZE_MB=$(awk -v s="$SIZE" 'BEGIN {printf "%.1f", s / 1000000}')
    steps=$(grep -c '^Step ' "$TMP/build.log")
    cached=$(grep -c 'Using cache' "$TMP/build.log")
    pass "docker build -t $IMAGE . ($BUILD_S s, $cached of $steps steps from cache; image $SIZE_MB MB; $(d run --rm "$IMAGE" version 2>&1))"
else
    abort "docker build -t $IMAGE ." "$(tail -30 "$TMP/build.log")"
fi
hc=$(d image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE")
if grep -q '"Test":\["CMD","vaultctl","health"\],"Interval":5000000000,' <<<"$hc"; then
    pass "HEALTHCHECK vaultctl health every 5 s ($hc)"
else
    fail "HEALTHCHECK vaultctl health every 5 s" "$hc"
fi

# ---- secrets as the docs say: files the operator keeps, mode 0600 ------------

umask 077
mkdir -p "$TMP/secrets"
d run --rm "$IMAGE" keygen >"$TMP/secrets/vault_master_key"
for s in vault_nats_pass nats_admin_pass nats_agent_pass nats_audit_pass; do
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$TMP/secrets/$s"
done
umask 022
# The plain containers get them as bind mounts, owned like Swarm's
# uid=10001,gid=10001,mode=0400 secrets would be.
mkdir -p "$TMP/run-secrets" "$TMP/client"
cp "$TMP/secrets/vault_master_key" "$TMP/secrets/vault_nats_pass" "$TMP/secrets/nats_audit_pass" "$TMP/run-secrets/"
cp "$TMP/secrets/nats_admin_pass" "$TMP/client/admin.pass"
cp "$TMP/secrets/nats_agent_pass" "$TMP/client/agent.pass"
chown 10001:10001 "$TMP"/run-secrets/* "$TMP"/client/*
chmod 0400 "$TMP"/run-secrets/* "$TMP"/client/*
chmod 0755 "$TMP" "$TMP/run-secrets" "$TMP/client"

# client NETWORK ARGS...: the image's own client, `vaultctl request`, in a
# container on NETWORK, with the users' password files at /pass/.
client() {
    local net=$1; shift
    d run --rm --network "$net" -v "$TMP/client:/pass:ro" "$IMAGE" \
        request --server nats://nats-server:4222 --timeout 5 "$@" 2>&1
}
# acl_checks NETWORK LABEL: set/get and the ACL over NATS.
acl_checks() {
    local net=$1 label=$2 out val
    val="v-$RANDOM-$label"
    out=$(client "$net" --user admin --pass-file /pass/admin.pass admin.requests set "demo/$label" "$val")
    if grep -q '"status":"success"' <<<"$out"; then pass "$label: admin sets a secret over NATS"
    else fail "$label: admin sets a secret over NATS" "$out"; fi
    out=$(client "$net" --user agent --pass-file /pass/agent.pass user.requests get "demo/$label")
    if grep -q "\"data\":\"$val\"" <<<"$out"; then pass "$label: agent gets it on user.requests"
    else fail "$label: agent gets it on user.requests" "$out"; fi
    out=$(client "$net" --user agent --pass-file /pass/agent.pass user.requests delete "demo/$label")
    if grep -q '"code":"access_denied"' <<<"$out"; then pass "$label: agent may not delete (access_denied from the ACL)"
    else fail "$label: agent may not delete (ACL)" "$out"; fi
    out=$(client "$net" --user agent --pass-file /pass/agent.pass admin.requests get "demo/$label")
    if ! grep -q "$val" <<<"$out" && ! grep -q '"status":"success"' <<<"$out"; then
        pass "$label: agent may not use admin.requests (NATS refuses: $(head -1 <<<"$out" | cut -c1-140))"
    else
        fail "$label: agent may not use admin.requests" "$out"
    fi
}
# The audit subscriber: admin may subscribe to vault.audit. The NATS image
# has no client, so bash speaks the protocol over /dev/tcp. It prints
# "subscribed" once the server has the subscription (PONG after SUB), then
# "event <payload>" per audit event, and any -ERR.
AUDIT_SUB='exec 3<>/dev/tcp/nats-server/4222 || exit 1
read -r -t 10 line <&3 || { echo "no INFO from nats-server"; exit 1; }
printf "CONNECT {\"user\":\"admin\",\"pass\":\"%s\",\"verbose\":false}\r\nSUB vault.audit 1\r\nPING\r\n" \
    "$(cat /pass/admin.pass)" >&3
while read -r -t 120 line <&3; do
    line=${line%$'"'"'\r'"'"'}
    case $line in
        PING) printf "PONG\r\n" >&3 ;;
        PONG) echo subscribed ;;
        "MSG "*) read -r -t 5 payload <&3 && echo "event ${payload%$'"'"'\r'"'"'}" ;;
        -ERR*) echo "$line"; exit 1 ;;
    esac
done'
# audit_checks NETWORK LABEL NATS_LOGS VAULT_LOGS: the audit events of the
# vaultctl on NETWORK arrive on vault.audit and nothing is refused.
# NATS_LOGS and VAULT_LOGS are commands that print nats-server's and
# vaultctl's logs.
audit_checks() {
    local net=$1 label=$2 nats_logs=$3 vault_logs=$4 out aud pub drop ref ev viol nlog vlog
    d rm -f "$PFX-auditsub" >/dev/null 2>&1
    d run -d --name "$PFX-auditsub" --network "$net" --read-only --cap-drop ALL --user 10001:10001 \
        -v "$TMP/client:/pass:ro" --entrypoint bash "$NATS_IMAGE" -c "$AUDIT_SUB" >/dev/null
    sub_log() { d logs "$PFX-auditsub" 2>&1; }
    sub_has() { sub_log | grep -q "$1"; }
    if ! wait_until 30 sub_has '^subscribed'; then
        fail "$label: a subscriber on vault.audit (admin)" "$(sub_log)"
    else
        out=$(client "$net" --user admin --pass-file /pass/admin.pass admin.requests status)
        if wait_until 15 sub_has '^event .*"subject":"admin.requests","operation":"status"'; then
            ev=$(sub_log | grep -m1 '^event .*"operation":"status"')
            pass "$label: audit events arrive on vault.audit: ${ev#event }"
        else
            fail "$label: audit events arrive on vault.audit" "subscriber: $(sub_log)"$'\n'"status: $out"
        fi
    fi
    d rm -f "$PFX-auditsub" >/dev/null 2>&1
    # The status reply's audit object, after at least the event above.
    out=$(client "$net" --user admin --pass-file /pass/admin.pass admin.requests status)
    aud=$(grep -o '"audit":{[^}]*}' <<<"$out" | head -1)
    pub=$(grep -o '"published":[0-9]*' <<<"$aud" | cut -d: -f2)
    drop=$(grep -o '"dropped":[0-9]*' <<<"$aud" | cut -d: -f2)
    ref=$(grep -o '"refused":[0-9]*' <<<"$aud" | cut -d: -f2)
    if [ -n "$pub" ] && [ "$pub" -gt 0 ] && [ "$drop" = 0 ] && [ "$ref" = 0 ]; then
        pass "$label: status reports published $pub, dropped 0, refused 0 ($aud)"
    else
        fail "$label: status reports audit events published, none dropped or refused" "$out"
    fi
    nlog=$("$nats_logs" 2>&1)
    vlog=$("$vault_logs" 2>&1)
    viol=$(grep -i 'violation.*vault\.audit' <<<"$nlog")
    if ! grep -q 'Server is ready' <<<"$nlog"; then
        fail "$label: nats-server log readable" "$(tail -5 <<<"$nlog")"
    elif [ -n "$viol" ]; then
        fail "$label: no Permissions Violation for vault.audit in nats-server's log" "$viol"
    elif grep -qi 'not permitted\|permissions violation' <<<"$vlog"; then
        fail "$label: vaultctl's log has no refused publish" "$(grep -i 'not permitted\|permissions violation' <<<"$vlog" | tail -5)"
    elif ! grep -q 'audit: events go out as their own NATS user' <<<"$vlog"; then
        fail "$label: vaultctl's audit events go out as their own NATS user" "$(tail -10 <<<"$vlog")"
    else
        pass "$label: no Violation for vault.audit in nats-server's log, vaultctl: \"$(grep -o -m1 'audit: events go out as their own NATS user[^"]*' <<<"$vlog")\""
    fi
}
health() { d inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null; }
is_healthy() { [ "$(health "$1")" = healthy ]; }

# ---- 5. plain containers ---------------------------------------------------

info "plain containers on user network $NET"
u=$(d image inspect -f '{{.Config.User}}' "$IMAGE")
id_out=$(d run --rm --entrypoint id "$IMAGE" 2>&1)
if [ "$u" = "10001:10001" ] && grep -q '^uid=10001(vaultctl) gid=10001(vaultctl)' <<<"$id_out"; then
    pass "image user is 10001:10001 ($id_out)"
else
    fail "image user is 10001:10001" "USER $u; $id_out"
fi

# Started without any secret: what it says (docs/deployment.md quotes it).
out=$(timeout 30 "$DOCKER" run --rm "$IMAGE" 2>&1); rc=$?
if [ "$rc" -ne 0 ] && grep -q 'VAULTCTL_NATS_PASS_FILE: /run/secrets/vault_nats_pass: cannot open: No such file' <<<"$out"; then
    pass "no secrets at all: exit $rc, names the NATS password secret first: $out"
else
    fail "no secrets at all: fails and names the missing secret" "exit $rc: $out"
fi
out=$(timeout 30 "$DOCKER" run --rm -v "$TMP/run-secrets/vault_nats_pass:/run/secrets/vault_nats_pass:ro" "$IMAGE" 2>&1); rc=$?
if [ "$rc" -ne 0 ] && grep -q 'master key /run/secrets/vault_master_key: cannot open' <<<"$out" &&
   grep -q 'docker secret create vault_master_key' <<<"$out"; then
    pass "NATS password but no master key: exit $rc, names the key and how to create it"
else
    fail "NATS password but no master key: names the key" "exit $rc: $out"
fi

d network create "$NET" >/dev/null
cp "$SRC/examples/nats-server.conf" "$TMP/nats-server.conf"
chmod 0644 "$TMP/nats-server.conf"
d run -d --name "$PFX-nats" --network "$NET" --network-alias nats-server --read-only --cap-drop ALL \
    -v "$TMP/nats-server.conf:/etc/nats/nats-server.conf:ro" \
    -e ADMIN_NATS_PASS="$(cat "$TMP/secrets/nats_admin_pass")" \
    -e AGENT_NATS_PASS="$(cat "$TMP/secrets/nats_agent_pass")" \
    -e VAULT_NATS_PASS="$(cat "$TMP/secrets/vault_nats_pass")" \
    -e AUDIT_NATS_PASS="$(cat "$TMP/secrets/nats_audit_pass")" \
    "$NATS_IMAGE" nats-server -c /etc/nats/nats-server.conf >/dev/null ||
    abort "start the NATS container"
t=$(date +%s)
d run -d --name "$PFX-vault" --network "$NET" --read-only --cap-drop ALL \
    -v "$TMP/run-secrets/vault_master_key:/run/secrets/vault_master_key:ro" \
    -v "$TMP/run-secrets/vault_nats_pass:/run/secrets/vault_nats_pass:ro" \
    -v "$TMP/run-secrets/nats_audit_pass:/run/secrets/nats_audit_pass:ro" \
    -e VAULTCTL_AUDIT_NATS_USER=audit -e VAULTCTL_AUDIT_NATS_PASS_FILE=/run/secrets/nats_audit_pass \
    -v "$PFX-data:/app/data" "$IMAGE" >/dev/null || abort "start the vaultctl container"
if wait_until 60 is_healthy "$PFX-vault"; then
    pass "read-only root, all capabilities dropped: turns healthy in $(($(date +%s) - t)) s"
else
    fail "turns healthy" "health: $(health "$PFX-vault"); $(d logs "$PFX-vault" 2>&1 | tail -10)"
fi
out=$(d exec "$PFX-vault" touch /app/config/x 2>&1)
if [ $? -ne 0 ] && grep -qi 'read-only file system' <<<"$out" &&
   [ "$(d inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$PFX-vault")" = true ]; then
    pass "root file system is read-only ($out)"
else
    fail "root file system is read-only" "$out"
fi
acl_checks "$NET" plain
plain_nats_logs()  { d logs "$PFX-nats"; }
plain_vault_logs() { d logs "$PFX-vault"; }
audit_checks "$NET" plain plain_nats_logs plain_vault_logs
t=$(date +%s.%N)
d stop -t 45 "$PFX-vault" >/dev/null
stop_s=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
ec=$(d inspect -f '{{.State.ExitCode}}' "$PFX-vault")
if [ "$ec" = 0 ] && awk -v s="$stop_s" 'BEGIN {exit !(s < 5)}'; then
    pass "docker stop: exit $ec in $stop_s s"
else
    fail "docker stop: exit 0 within 5 s" "exit $ec in $stop_s s; $(d logs "$PFX-vault" 2>&1 | tail -5)"
fi
# Control: the same container without the audit login (the form before the
# audit user). Its events go out as the vault user, which may not publish on
# vault.audit: nats-server refuses them, and only its log shows it (status
# still counts them as published: handed to the connection).
d rm -f "$PFX-vault" >/dev/null
d run -d --name "$PFX-vault-noaudit" --network "$NET" --read-only --cap-drop ALL \
    -v "$TMP/run-secrets/vault_master_key:/run/secrets/vault_master_key:ro" \
    -v "$TMP/run-secrets/vault_nats_pass:/run/secrets/vault_nats_pass:ro" \
    -v "$PFX-data:/app/data" "$IMAGE" >/dev/null
refused_audit() { d logs "$PFX-nats" 2>&1 | grep -i 'violation.*"vault".*vault\.audit'; }
if wait_until 60 is_healthy "$PFX-vault-noaudit"; then
    client "$NET" --user admin --pass-file /pass/admin.pass admin.requests status >/dev/null
    if wait_until 10 refused_audit; then
        # The refused event counts as published all the same.
        out=$(client "$NET" --user admin --pass-file /pass/admin.pass admin.requests status)
        pass "control, no audit login: nats-server refuses the events ($(refused_audit | head -1 | sed 's/^.*\] //')), yet status says $(grep -o '"published":[0-9]*,"dropped":[0-9]*,"refused":[0-9]*' <<<"$out")"
    else
        fail "control, no audit login: nats-server refuses the events" "$(d logs "$PFX-nats" 2>&1 | tail -5)"$'\n'"$out"
    fi
else
    fail "control, no audit login: turns healthy" "$(d logs "$PFX-vault-noaudit" 2>&1 | tail -10)"
fi
d rm -f "$PFX-vault-noaudit" "$PFX-nats" >/dev/null
d network rm "$NET" >/dev/null
d volume rm "$PFX-data" >/dev/null

# ---- 6. a single-node Swarm ------------------------------------------------

state=$(d info -f '{{.Swarm.LocalNodeState}}')
if [ "$state" = inactive ]; then
    d swarm init --advertise-addr 127.0.0.1 >/dev/null 2>"$TMP/swarm.log" ||
        abort "docker swarm init --advertise-addr 127.0.0.1" "$(cat "$TMP/swarm.log")"
    SWARM_INITED=1
    info "single-node Swarm initialised"
else
    abort "a Swarm of this script's own" "this daemon is already in a Swarm ($state): not touching it"
fi

# The network the seed assumes, created as the docs say.
if d network inspect my-nats-network >/dev/null 2>&1; then
    abort "create my-nats-network" "a network my-nats-network already exists on this daemon: not touching it"
fi
d network create -d overlay --attachable my-nats-network >/dev/null || abort "docker network create -d overlay --attachable my-nats-network"
CREATED_NATS_NET=1
for s in $SECRETS; do
    d secret create "$s" "$TMP/secrets/$s" >/dev/null || abort "docker secret create $s FILE"
done
pass "Swarm: my-nats-network (overlay, attachable) and the five secrets created from the operator's files"

# NATS on my-nats-network, as the seed assumes it.
d config create "$PFX-nats-conf" "$SRC/examples/nats-server.conf" >/dev/null
d service create --detach --name nats-server --network my-nats-network --endpoint-mode dnsrr \
    --read-only --cap-drop ALL --no-resolve-image \
    --config source="$PFX-nats-conf",target=/etc/nats/nats-server.conf \
    --secret nats_admin_pass --secret nats_agent_pass --secret vault_nats_pass --secret nats_audit_pass \
    --entrypoint /bin/sh "$NATS_IMAGE" -c \
    'export ADMIN_NATS_PASS="$(cat /run/secrets/nats_admin_pass)" AGENT_NATS_PASS="$(cat /run/secrets/nats_agent_pass)" VAULT_NATS_PASS="$(cat /run/secrets/vault_nats_pass)" AUDIT_NATS_PASS="$(cat /run/secrets/nats_audit_pass)" && exec nats-server -c /etc/nats/nats-server.conf' \
    >/dev/null || abort "NATS service on my-nats-network"

# The seed's command, bare, with --detach: returns, and the task says why it
# cannot start.
t=$(date +%s)
out=$(timeout 60 "$DOCKER" service create --detach --name vaultctl --network my-nats-network "$IMAGE" 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then
    pass "seed's bare docker service create --detach returns (exit 0 in $(($(date +%s) - t)) s)"
else
    fail "seed's bare docker service create --detach returns" "exit $rc: $out"
fi
seed_logs() { d service logs --raw vaultctl 2>&1; }
seed_names_pass() { seed_logs | grep -q 'VAULTCTL_NATS_PASS_FILE: /run/secrets/vault_nats_pass: cannot open'; }
if wait_until 60 seed_names_pass; then
    pass "bare: the task fails and its log names the missing secret: $(seed_logs | grep -m1 vault_nats_pass)"
else
    fail "bare: the task's log names the missing secret" "$(seed_logs | tail -5; d service ps --no-trunc vaultctl)"
fi
ps_err=$(d service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' vaultctl | grep -m1 'non-zero exit')
if [ -n "$ps_err" ]; then pass "bare: docker service ps shows the failed task ($ps_err)"
else fail "bare: docker service ps shows the failed task" "$(d service ps --no-trunc vaultctl)"; fi
d service rm vaultctl >/dev/null
wait_until 60 service_gone vaultctl || fail "bare service's containers gone" "$(d ps -a)"

# The hardened form from docs/deployment.md.
t=$(date +%s)
d service create --detach --name vaultctl --network my-nats-network --no-resolve-image \
    --secret source=vault_master_key,target=vault_master_key,uid=10001,gid=10001,mode=0400 \
    --secret source=vault_nats_pass,target=vault_nats_pass,uid=10001,gid=10001,mode=0400 \
    --secret source=nats_audit_pass,target=nats_audit_pass,uid=10001,gid=10001,mode=0400 \
    --env VAULTCTL_AUDIT_NATS_USER=audit --env VAULTCTL_AUDIT_NATS_PASS_FILE=/run/secrets/nats_audit_pass \
    --mount type=volume,source="$PFX-seed-data",target=/app/data \
    --read-only --cap-drop ALL \
    "$IMAGE" >/dev/null || fail "docker service create (hardened form)"
seed_container() { d ps -q --filter label=com.docker.swarm.service.name=vaultctl --filter status=running | head -1; }
seed_healthy() { local c; c=$(seed_container); [ -n "$c" ] && is_healthy "$c"; }
if wait_until 90 seed_healthy; then
    pass "with secrets, volume, --read-only, --cap-drop ALL: task running and healthy in $(($(date +%s) - t)) s"
    acl_checks my-nats-network service
    service_nats_logs()  { d service logs --raw nats-server; }
    service_vault_logs() { d service logs --raw vaultctl; }
    audit_checks my-nats-network service service_nats_logs service_vault_logs
else
    fail "with secrets: task running and healthy" "$(d service ps --no-trunc vaultctl; seed_logs | tail -10)"
fi
d service rm vaultctl nats-server >/dev/null
wait_until 60 service_gone vaultctl
wait_until 60 service_gone nats-server
d config rm "$PFX-nats-conf" >/dev/null
d volume rm "$PFX-seed-data" >/dev/null 2>&1

# deploy/stack.yml onto the existing my-nats-network.
d node update --label-add vault-data=true "$(d info -f '{{.Swarm.NodeID}}')" >/dev/null
t=$(date +%s)
out=$(cd "$SRC" && NATS_IMAGE=$NATS_IMAGE "$DOCKER" stack deploy --resolve-image never -c deploy/stack.yml "$STACK" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && ! grep -qi 'ignoring unsupported' <<<"$out"; then
    pass "docker stack deploy onto the existing my-nats-network: $(tr '\n' ';' <<<"$out" | cut -c1-150)"
else
    fail "docker stack deploy onto the existing my-nats-network" "exit $rc: $out"
fi
stack_container() { d ps -q --filter "label=com.docker.swarm.service.name=${STACK}_vaultctl" --filter status=running | head -1; }
stack_healthy() { local c; c=$(stack_container); [ -n "$c" ] && is_healthy "$c"; }
replicas() { d service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}} {{.Replicas}}' | sort; }
if wait_until 120 stack_healthy; then
    pass "stack converges ($(replicas | tr '\n' ' ')), vaultctl healthy in $(($(date +%s) - t)) s"
    acl_checks my-nats-network stack
    stack_nats_logs()  { d service logs --raw "${STACK}_nats-server"; }
    stack_vault_logs() { d service logs --raw "${STACK}_vaultctl"; }
    audit_checks my-nats-network stack stack_nats_logs stack_vault_logs
else
    fail "stack converges and vaultctl turns healthy" "$(replicas; d service ps --no-trunc "${STACK}_vaultctl"; d service logs --raw "${STACK}_vaultctl" 2>&1 | tail -10)"
fi
for svc in vaultctl nats-server; do
    spec=$(d service inspect "${STACK}_$svc" --format '{{json .Spec.TaskTemplate.ContainerSpec.ReadOnly}} {{json .Spec.TaskTemplate.ContainerSpec.CapabilityDrop}}' 2>&1)
    if [ "$spec" = 'true ["ALL"]' ]; then pass "${STACK}_$svc: ReadOnly true, CapabilityDrop [ALL] applied"
    else fail "${STACK}_$svc: read_only and cap_drop applied" "$spec"; fi
done
c=$(stack_container)
if [ -n "$c" ] && [ "$(d inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}}' "$c")" = 'true ["ALL"]' ]; then
    pass "the running vaultctl task container has a read-only root and drops ALL"
else
    fail "the running task container is hardened" "$( [ -n "$c" ] && d inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}}' "$c")"
fi
d stack rm "$STACK" >/dev/null
wait_until 90 stack_gone || fail "stack's containers gone after docker stack rm" "$(d ps -a)"
if d network inspect my-nats-network >/dev/null 2>&1; then
    pass "docker stack rm leaves my-nats-network"
else
    fail "docker stack rm leaves my-nats-network"
fi

# deploy/stack-ha.yml on this one node: the three NATS services (all three
# node labels here) form one JetStream cluster, and vaultctl with the
# jetstream backend serves from it. max_replicas_per_node: 1 runs one of the
# three vaultctl replicas on a single node (the others stay pending).
info "deploy/stack-ha.yml (three NATS servers as a JetStream cluster, vaultctl jetstream)"
node=$(d info -f '{{.Swarm.NodeID}}')
d node update --label-add nats-1=true --label-add nats-2=true --label-add nats-3=true "$node" >/dev/null
t=$(date +%s)
out=$(cd "$SRC" && NATS_IMAGE=$NATS_IMAGE "$DOCKER" stack deploy --resolve-image never -c deploy/stack-ha.yml "$HA_STACK" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && ! grep -qi 'ignoring unsupported' <<<"$out"; then
    pass "docker stack deploy -c deploy/stack-ha.yml"
else
    fail "docker stack deploy -c deploy/stack-ha.yml" "exit $rc: $out"
fi
ha_logs() { d service logs --raw "${HA_STACK}_$1" 2>&1; }
# A meta leader needs a quorum (2 of the 3): some node logs one ("Self is
# new JetStream cluster metadata leader" on the leader itself), and every
# node is up.
ha_meta() {
    local i
    for i in 1 2 3; do ha_logs "nats-$i" | grep -q "Server is ready" || return 1; done
    for i in 1 2 3; do ha_logs "nats-$i"; done | grep -q "metadata leader"
}
if wait_until 120 ha_meta; then
    pass "the three NATS servers elected a JetStream meta leader in $(($(date +%s) - t)) s"
else
    fail "the three NATS servers form a JetStream cluster" \
        "$(d service ls; for i in 1 2 3; do echo "nats-$i:"; ha_logs "nats-$i" | grep -E 'ready|leader|ERR' | tail -5; done)"
fi
ha_container() { d ps -q --filter "label=com.docker.swarm.service.name=${HA_STACK}_vaultctl" --filter status=running | head -1; }
ha_active() { local c; c=$(ha_container); [ -n "$c" ] && is_healthy "$c" && ha_logs vaultctl | grep -q "holds the write lease"; }
if wait_until 180 ha_active; then
    pass "vaultctl (jetstream backend) healthy and the active writer in $(($(date +%s) - t)) s"
    ha_client() { # the image's client on the stack's NATS (nats-2: not the one the service chose)
        d run --rm --network my-nats-network -v "$TMP/client:/pass:ro" "$IMAGE" \
            request --server nats://nats-2:4222 --timeout 10 "$@" 2>&1
    }
    val="v-$RANDOM-ha"
    out=$(ha_client --user admin --pass-file /pass/admin.pass admin.requests set demo/ha "$val")
    if grep -q '"status":"success"' <<<"$out"; then pass "stack-ha: admin sets a secret (stored in the R3 stream)"
    else fail "stack-ha: admin sets a secret" "$out"; fi
    out=$(ha_client --user agent --pass-file /pass/agent.pass user.requests get demo/ha)
    if grep -q "\"data\":\"$val\"" <<<"$out"; then pass "stack-ha: agent gets it on user.requests"
    else fail "stack-ha: agent gets it on user.requests" "$out"; fi
    out=$(ha_client --user admin --pass-file /pass/admin.pass admin.requests status)
    if grep -q '"backend":"jetstream"' <<<"$out" && grep -q '"role":"active"' <<<"$out"; then
        pass "stack-ha: status says backend jetstream, role active"
    else fail "stack-ha: status says backend jetstream, role active" "$out"; fi
else
    fail "vaultctl (jetstream backend) healthy and active" "$(d service ps --no-trunc "${HA_STACK}_vaultctl"; ha_logs vaultctl | tail -20)"
fi
d stack rm "$HA_STACK" >/dev/null
wait_until 90 ha_stack_gone || fail "stack-ha's containers gone after docker stack rm" "$(d ps -a)"
d node update --label-rm nats-1 --label-rm nats-2 --label-rm nats-3 "$node" >/dev/null

summary
