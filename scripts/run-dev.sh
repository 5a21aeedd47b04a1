#!/usr/bin/env bash
# `make run`: a local nats-server with the example users and permissions,
# and `vaultctl serve` with a development master key, both in the
# foreground until Ctrl-C.  Usage: scripts/run-dev.sh BUILD_DIR
#
# Everything it makes lives in .run/ (git-ignored): the development master
# key, random NATS passwords, the vaultctl config and the store. Run it again
# and it reuses them, so the data is still there.
# VAULTCTL_RUN_DIR and NATS_PORT override the folder and the port.
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) bin="$build/vaultctl" ;; *) bin="$root/$build/vaultctl" ;; esac
run=${VAULTCTL_RUN_DIR:-$root/.run}
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${NATS_PORT:-4222}
if port_busy "$port"; then
  for p in $(seq 14222 14299); do port_busy "$p" || { port=$p; break; }; done
fi
url="nats://127.0.0.1:$port"

umask 077
mkdir -p "$run"
if [ ! -s "$run/master.key" ]; then
  "$bin" keygen > "$run/master.key"
  echo "make run: wrote a development master key to $run/master.key"
fi
# A leading letter: nats-server reads an environment variable that starts
# with a digit ($AGENT_NATS_PASS = "5Gx...") as a number and fails to parse it.
for u in admin agent vault audit; do
  [ -s "$run/$u.pass" ] || { printf p; head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; } > "$run/$u.pass"
done

# The example configuration, pointed at this folder and this server.
sed -e "s#nats://127.0.0.1:4222#$url#" \
    -e "s#/app/config/master.key#$run/master.key#" \
    -e "s#path: /app/data#path: $run/data#" \
    "$root/examples/config.yaml" > "$run/config.yaml"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "make run: stopping"
  # vaultctl first (it drains and flushes its replies), then nats-server.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup INT TERM EXIT

# Ready when its log says so; if it could not bind (the port was taken
# after the check above), the next free port, up to 5 tries.
started=""
for try in 1 2 3 4 5; do
  url="nats://127.0.0.1:$port"
  sed -i -e "s#nats://127.0.0.1:[0-9]*#$url#" "$run/config.yaml"
  ADMIN_NATS_PASS=$(cat "$run/admin.pass") AGENT_NATS_PASS=$(cat "$run/agent.pass") \
  VAULT_NATS_PASS=$(cat "$run/vault.pass") AUDIT_NATS_PASS=$(cat "$run/audit.pass") \
    setsid "$nats_server" -c "$root/examples/nats-server.conf" -a 127.0.0.1 -p "$port" \
    > "$run/nats-server.log" 2>&1 &
  npid=$!
  for _ in $(seq 200); do
    kill -0 "$npid" 2>/dev/null || break
    grep -q "Server is ready" "$run/nats-server.log" && { started=1; break; }
    sleep 0.05
  done
  [ -n "$started" ] && break
  kill -9 "$npid" 2>/dev/null || true
  wait "$npid" 2>/dev/null || true
  echo "make run: nats-server did not start on port $port (try $try of 5): $(tail -n 1 "$run/nats-server.log")"
  for p in $(seq 14222 14299); do [ "$p" != "$port" ] && ! port_busy "$p" && { port=$p; break; }; done
done
[ -n "$started" ] || { echo "make run: nats-server did not start:"; cat "$run/nats-server.log"; exit 1; }
pids+=($npid)
echo "make run: nats-server on $url (log: $run/nats-server.log)"

# setsid: Ctrl-C reaches this script only, which stops both in order.
VAULTCTL_NATS_PASS_FILE="$run/vault.pass" VAULTCTL_AUDIT_NATS_PASS_FILE="$run/audit.pass" setsid "$bin" serve --config "$run/config.yaml" &
pids+=($!)

req="$bin request --server $url"
for _ in $(seq 100); do
  $req --user admin --pass-file "$run/admin.pass" --timeout 0.2 admin.requests status >/dev/null 2>&1 && break
  sleep 0.1
done

cat <<EOF

vaultctl is serving on $url. Try, in another terminal:

  echo sk-demo-123 | $req --user admin --pass-file $run/admin.pass admin.requests set demo/api-key -
  $req --user agent --pass-file $run/agent.pass user.requests get demo/api-key
  $req --user admin --pass-file $run/admin.pass admin.requests status
  $req --user admin --pass-file $run/admin.pass --token-out $run/agent.token --fields '{"policy":{"keys":["demo/*"],"operations":["get"]},"uses":2,"ttl":"15m"}' admin.requests issue && $req --user agent --pass-file $run/agent.pass --token-file $run/agent.token agents.requests get demo/api-key

The value comes on stdin (-), so it never shows in ps; --value-file FILE works
too. The agent user may only get and set (ACL of user.requests), and the NATS
server itself stops it from publishing on admin.requests. The fourth command
has the admin issue a scoped token (demo/*, get, 2 uses, 15 minutes) into
$run/agent.token, and the agent use it on agents.requests (tokens: true):
meta.lifecycle shows the uses left; a third use is token_invalid. The local CLI works
beside the service: $bin --config $run/config.yaml list
Ctrl-C stops both.
EOF

wait -n "${pids[@]}" || true
