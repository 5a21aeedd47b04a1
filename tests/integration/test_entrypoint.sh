#!/usr/bin/env bash
# test_entrypoint.sh - runs what the swarm-vaultctl image runs, on the host,
# where no Docker engine may be available.
#
# A temporary root is laid out like the image: TMPROOT/usr/local/bin/vaultctl,
# TMPROOT/app/config/config.yaml (docker/config.yaml with its /app and
# /run/secrets paths moved under TMPROOT), TMPROOT/app/data (the volume) and
# TMPROOT/run/secrets (Docker secrets as files). The ENTRYPOINT, CMD, USER and
# HEALTHCHECK are read from the Dockerfile's runtime stage and run as that
# user (when this script runs as root; otherwise as the invoking user), with
# the environment deploy/stack.yml gives the service, against a real
# nats-server configured from examples/nats-server.conf.
#
# Usage: test_entrypoint.sh PATH/TO/vaultctl
set -u

BIN=${1:?usage: test_entrypoint.sh PATH/TO/vaultctl}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DOCKERFILE=$SRC/Dockerfile
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}

passed=0
failed=0
TMPROOT=
NATS_PID=
SERVE_PID=

ok()   { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && sed 's/^/       /' <<<"$2"; }
# check NAME COMMAND...: passes when the command succeeds.
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }

cleanup() {
    [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null
    [ -n "$NATS_PID" ] && kill -TERM "$NATS_PID" 2>/dev/null
    [ -n "$NATS_PID" ] && wait "$NATS_PID" 2>/dev/null
    [ -n "$TMPROOT" ] && rm -rf "$TMPROOT"
}
trap cleanup EXIT

summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# shellcheck source=natsport.sh
. "$(dirname "$0")/natsport.sh"

random_pw() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }

# ---- the Dockerfile's runtime stage --------------------------------------

if [ ! -f "$DOCKERFILE" ]; then
    fail "Dockerfile exists"
    summary
fi
# Everything after the last FROM: the stage the image runs.
RUNTIME=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$DOCKERFILE")
# A JSON-array instruction as words: ENTRYPOINT ["vaultctl"] -> vaultctl
words() { sed -n "s/^$1 .*\[\(.*\)\].*/\1/p" <<<"$RUNTIME" | tail -1 | tr -d '",'; }

check "runtime stage is debian:bookworm-slim" grep -q '^FROM debian:bookworm-slim *$' <<<"$RUNTIME"
ENTRYPOINT=$(words ENTRYPOINT)
CMD=$(words CMD)
HEALTH=$(sed -n 's/^HEALTHCHECK .*CMD \[\(.*\)\].*/\1/p' <<<"$RUNTIME" | tr -d '",')
USER_LINE=$(sed -n 's/^USER \([0-9]*\)\(:\([0-9]*\)\)\{0,1\} *$/\1 \3/p' <<<"$RUNTIME" | tail -1)
RUN_UID=${USER_LINE%% *}
RUN_GID=${USER_LINE##* }
[ -n "$RUN_GID" ] || RUN_GID=$RUN_UID
check "ENTRYPOINT is vaultctl, CMD is serve" [ "$ENTRYPOINT" = vaultctl -a "$CMD" = serve ]
check "HEALTHCHECK runs vaultctl health" [ "$HEALTH" = "vaultctl health" ]
check "USER is a numeric non-root uid ($RUN_UID)" [ -n "$RUN_UID" -a "${RUN_UID:-0}" != 0 ]
check "ENV VAULTCTL_NATS_PASS_FILE names the NATS password secret" \
    grep -q '^ENV VAULTCTL_NATS_PASS_FILE=/run/secrets/vault_nats_pass' <<<"$RUNTIME"
check "VOLUME /app/data" grep -q '^VOLUME \(\["\)\{0,1\}/app/data' <<<"$RUNTIME"
check "the image carries docker/config.yaml as /app/config/config.yaml" \
    grep -q '^COPY docker/config.yaml /app/config/config.yaml' <<<"$RUNTIME"
if grep -v '^ *#' <<<"$RUNTIME" | grep -Eiq 'ssh|cron|chpasswd|passwd|PASSWORD='; then
    fail "no SSH server, cron or password in the runtime stage"
else
    ok "no SSH server, cron or password in the runtime stage"
fi

# Every shared library the binary loads comes from a runtime package (or a
# dependency of one), so the image's package list is enough to run it.
PKGS=$(grep -A3 'apt-get install' <<<"$RUNTIME" | tr ' \\' '\n\n' | grep -E '^(lib|ca-)' | sort -u)
if ldd "$BIN" 2>/dev/null | grep -q 'libasan\|libubsan'; then
    echo "skip - sanitizer build (links its own runtime): runtime library check"
elif command -v dpkg-query >/dev/null && command -v apt-cache >/dev/null && command -v ldd >/dev/null; then
    # shellcheck disable=SC2086
    CLOSURE=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $PKGS 2>/dev/null | grep -v '^ ' | sort -u)
    missing=
    for lib in $(ldd "$BIN" | awk '$3 ~ /^\// {print $3}'); do
        pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
        [ -z "$pkg" ] && pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
        grep -qx "$pkg" <<<"$CLOSURE" || missing="$missing $lib($pkg)"
    done
    if [ -z "$missing" ]; then ok "runtime packages ($(echo $PKGS)) provide every shared library"
    else fail "runtime packages provide every shared library" "missing:$missing"; fi
else
    echo "skip - no dpkg/apt-cache/ldd: runtime library check"
fi

# ---- the temporary root --------------------------------------------------

TMPROOT=$(mktemp -d /tmp/vaultctl-entrypoint-XXXXXX)
chmod 0755 "$TMPROOT"
# test/ holds this script's own files (logs, nats.conf): not part of the image.
mkdir -p "$TMPROOT/usr/local/bin" "$TMPROOT/app/config" "$TMPROOT/app/data" "$TMPROOT/run/secrets" \
         "$TMPROOT/test"
cp "$BIN" "$TMPROOT/usr/local/bin/vaultctl"
chmod 0755 "$TMPROOT/usr/local/bin/vaultctl"
sed -e "s#/run/secrets/#$TMPROOT/run/secrets/#g" -e "s#/app/#$TMPROOT/app/#g" \
    "$SRC/docker/config.yaml" > "$TMPROOT/app/config/config.yaml"
CONFIG=$TMPROOT/app/config/config.yaml
if grep -v '^ *#' "$CONFIG" | grep -Eq '(^|[ :])/(app|run)/'; then
    fail "config paths all moved under the temporary root" "$(grep -n '/app\|/run' "$CONFIG")"
else
    ok "config paths all moved under the temporary root"
fi
chmod 0755 "$TMPROOT/app" "$TMPROOT/app/config"
chmod 0644 "$CONFIG"

# Secrets: the master key and the NATS passwords.
"$BIN" keygen > "$TMPROOT/run/secrets/vault_master_key.new" || fail "keygen"
ADMIN_PW=$(random_pw)
AGENT_PW=$(random_pw)
VAULT_PW=$(random_pw)
printf '%s\n' "$VAULT_PW" > "$TMPROOT/run/secrets/vault_nats_pass"
chmod 0400 "$TMPROOT/run/secrets/"*

# As the image's user when we are root (setpriv needs no passwd entry);
# secrets and the volume belong to that user, as Docker would arrange.
RUNAS=()
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null; then
        RUNAS=(setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups --no-new-privs
               --inh-caps=-all --bounding-set=-all --)
        chown -R "$RUN_UID:$RUN_GID" "$TMPROOT/app/data" "$TMPROOT/run/secrets"
        chmod 0700 "$TMPROOT/app/data"
    else
        echo "note - no setpriv: running as root"
    fi
fi

# ---- nats-server with the example permissions ----------------------------

example_conf() { sed "s/^port: 4222/listen: 127.0.0.1:$1/" "$SRC/examples/nats-server.conf"; }
ADMIN_NATS_PASS=$ADMIN_PW AGENT_NATS_PASS=$AGENT_PW VAULT_NATS_PASS=$VAULT_PW AUDIT_NATS_PASS=$VAULT_PW-audit \
    nats_up example_conf "$TMPROOT/test/nats.log"
NATS_PID=$nats_pid PORT=$nats_port
URL=nats://127.0.0.1:$PORT
check "nats-server starts with examples/nats-server.conf" kill -0 "${NATS_PID:-0}"

# ---- the container's process ---------------------------------------------

# The image's ENV lines (NAME=value form), paths moved under TMPROOT.
IMAGE_ENV=()
while IFS= read -r kv; do
    IMAGE_ENV+=("$(sed -e "s#/run/secrets/#$TMPROOT/run/secrets/#g" -e "s#/app/#$TMPROOT/app/#g" <<<"$kv")")
done < <(sed -n 's/^ENV \([A-Za-z_][A-Za-z0-9_]*=[^ ]*\) *$/\1/p' <<<"$RUNTIME")

# Runs words as the image's user, in WORKDIR, with only the image's
# environment (VAULTCTL_CONFIG stands in for the default path,
# VAULTCTL_NATS_URL for the stack's service name nats-server); EXTRA_ENV (an
# array of NAME=value) comes last and wins. It execs: call it only in $(...) or with
# &, so it replaces a subshell (and $! is the service's own pid).
EXTRA_ENV=()
in_image() {
    cd "$TMPROOT/app" &&
    exec "${RUNAS[@]}" env -i PATH="$TMPROOT/usr/local/bin:/usr/bin:/bin" \
        "${IMAGE_ENV[@]}" \
        VAULTCTL_CONFIG="$CONFIG" \
        VAULTCTL_NATS_URL="$URL" \
        "${EXTRA_ENV[@]}" \
        "$@"
}

admin_request() {
    "$BIN" request --server "$URL" --user admin --pass "$ADMIN_PW" admin.requests "$@"
}

# 1. Without the master key secret: a clear error naming the file.
# shellcheck disable=SC2086
out=$(in_image timeout 20 $ENTRYPOINT $CMD 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && grep -q "$TMPROOT/run/secrets/vault_master_key" <<<"$out" &&
   grep -qi "no such file" <<<"$out" && grep -q "docker secret" <<<"$out"; then
    ok "without the master key secret: exit $rc, names the missing file and how to provide it"
else
    fail "without the master key secret: a clear error" "exit $rc: $out"
fi

mv "$TMPROOT/run/secrets/vault_master_key.new" "$TMPROOT/run/secrets/vault_master_key"

# 2. Without the NATS password secret (the image's VAULTCTL_NATS_PASS_FILE
# names it): the same.
mv "$TMPROOT/run/secrets/vault_nats_pass" "$TMPROOT/run/secrets/vault_nats_pass.new"
# shellcheck disable=SC2086
out=$(in_image timeout 20 $ENTRYPOINT $CMD 2>&1)
rc=$?
mv "$TMPROOT/run/secrets/vault_nats_pass.new" "$TMPROOT/run/secrets/vault_nats_pass"
if [ "$rc" -ne 0 ] && grep -q "VAULTCTL_NATS_PASS_FILE" <<<"$out" &&
   grep -q "$TMPROOT/run/secrets/vault_nats_pass: cannot open: No such file" <<<"$out"; then
    ok "without the NATS password secret: exit $rc, names the variable and the file"
else
    fail "without the NATS password secret: a clear error" "exit $rc: $out"
fi

# 3. The real start. The image's root file system is read-only: the service
# may write to the volume only (checked against this marker at the end).
touch "$TMPROOT/test/marker"
sleep 1
# shellcheck disable=SC2086
in_image $ENTRYPOINT $CMD > "$TMPROOT/test/serve.log" 2>&1 &
SERVE_PID=$!
answered=1
for _ in $(seq 1 100); do
    if admin_request status > "$TMPROOT/test/status.json" 2>/dev/null; then answered=0; break; fi
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
done
if [ "$answered" -eq 0 ] && grep -q '"status":"success"' "$TMPROOT/test/status.json"; then
    ok "vaultctl serve starts and answers a status request over NATS"
else
    fail "vaultctl serve starts and answers a status request" "$(cat "$TMPROOT/test/serve.log")"
fi

admin_request set entrypoint-test 's3cret value' > /dev/null 2>&1
out=$(admin_request get entrypoint-test 2>&1)
check "set then get over NATS" grep -q '"data":"s3cret value"' <<<"$out"
out=$("$BIN" request --server "$URL" --user agent --pass "$AGENT_PW" user.requests get entrypoint-test 2>&1)
check "an agent reads through user.requests" grep -q '"data":"s3cret value"' <<<"$out"

if [ "${#RUNAS[@]}" -gt 0 ]; then
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$SERVE_PID/status" 2>/dev/null)
    check "the service runs as uid $RUN_UID, not root" [ "$uid" = "$RUN_UID" ]
    owner=$(stat -c '%u %a' "$TMPROOT/app/data/data.mdb" 2>/dev/null)
    check "the store on the volume belongs to uid $RUN_UID, mode 600" [ "$owner" = "$RUN_UID 600" ]
fi

# 4. The HEALTHCHECK command, as Docker runs it (same user and environment).
sleep 1.2
# shellcheck disable=SC2086
out=$(in_image $HEALTH 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then ok "HEALTHCHECK ($HEALTH) passes while serving: $out"
else fail "HEALTHCHECK passes while serving" "exit $rc: $out"; fi

# 5. SIGTERM (docker stop): drain and exit 0.
kill -TERM "$SERVE_PID"
for _ in $(seq 1 400); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SERVE_PID"
rc=$?
SERVE_PID=
check "SIGTERM: the service exits 0" [ "$rc" -eq 0 ]
written=$(find "$TMPROOT" -newer "$TMPROOT/test/marker" ! -type d ! -path "$TMPROOT/app/data/*" \
          ! -path "$TMPROOT/test/*")
if [ -z "$written" ]; then ok "the service wrote nothing outside the data volume"
else fail "the service wrote nothing outside the data volume" "$written"; fi
# shellcheck disable=SC2086
out=$(in_image $HEALTH 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then ok "HEALTHCHECK fails once the service is gone: $out"
else fail "HEALTHCHECK fails once the service is gone" "$out"; fi

# 6. Files that are not ours (docs/SECURITY.md): Docker's default secret is
# root-owned 0444 while the service runs as the image's user: accepted. A
# volume that others may write, or a secret they may write: refused.
if [ "${#RUNAS[@]}" -gt 0 ]; then
    KEY=$TMPROOT/run/secrets/vault_master_key
    chown 0:0 "$KEY" && chmod 0444 "$KEY"
    out=$(in_image vaultctl status 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "a root-owned 0444 master key secret works as uid $RUN_UID"
    else fail "a root-owned 0444 master key secret works as uid $RUN_UID" "exit $rc: $out"; fi
    chmod 0666 "$KEY"
    out=$(in_image vaultctl status 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] && grep -q "writable by group or others" <<<"$out"; then
        ok "a master key secret writable by others is refused"
    else fail "a master key secret writable by others is refused" "exit $rc: $out"; fi
    chmod 0444 "$KEY"
    chmod 0777 "$TMPROOT/app/data"
    out=$(in_image timeout 20 $ENTRYPOINT $CMD 2>&1)
    rc=$?
    chmod 0700 "$TMPROOT/app/data"
    if [ "$rc" -ne 0 ] && grep -q "$TMPROOT/app/data: directory is writable by group or others" <<<"$out"; then
        ok "a world-writable data volume is refused, naming it"
    else fail "a world-writable data volume is refused" "exit $rc: $out"; fi
fi

summary
