#!/usr/bin/env bash
# `make run-operator`: nats-server in operator mode (JWT accounts) set up by
# `vaultctl nats-init`, and `vaultctl serve` minting NATS user credentials
# (PROTOCOL.md §10), both in the foreground until Ctrl-C.
# Usage: scripts/run-operator.sh BUILD_DIR
#
# Everything lives in .run-operator/ (git-ignored; VAULTCTL_RUN_DIR
# overrides it): nats-init's keys and creds, the master key, the vaultctl
# config and the store. Run it again and it reuses them. NATS_PORT
# overrides the port. nats-server keeps the account JWTs vaultctl pushes
# (revocations) in .run-operator/nats/jwt (nats-init's full resolver), so a
# revoked agent stays refused across restarts of this script.
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) bin="$build/vaultctl" ;; *) bin="$root/$build/vaultctl" ;; esac
run=${VAULTCTL_RUN_DIR:-$root/.run-operator}
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${NATS_PORT:-4222}
if port_busy "$port"; then
  for p in $(seq 14222 14299); do port_busy "$p" || { port=$p; break; }; done
fi
url="nats://127.0.0.1:$port"

umask 077
mkdir -p "$run"
if [ ! -s "$run/nats/nats-operator.conf" ]; then
  "$bin" nats-init "$run/nats" >/dev/null
  echo "make run-operator: wrote an operator, accounts and credentials to $run/nats (vaultctl nats-init)"
elif grep -q '^resolver: MEMORY' "$run/nats/nats-operator.conf"; then
  echo "make run-operator: $run/nats is from an older nats-init (resolver MEMORY): a nats-server"
  echo "  restart forgets revocations until vaultctl pushes them again; remove $run/nats for"
  echo "  the full resolver, which keeps them (new keys and creds)"
fi
if [ ! -s "$run/master.key" ]; then
  "$bin" keygen > "$run/master.key"
fi
account=$(sed -n 's/^  account: //p' "$run/nats/vaultctl.yaml")
printf 'listen: 127.0.0.1:%s\ninclude "nats/nats-operator.conf"\n' "$port" > "$run/nats-server.conf"
cat > "$run/config.yaml" <<YAML
nats:
  url: $url
  creds: $run/nats/vault.creds
encryption:
  master_key: $run/master.key
storage:
  path: $run/data
acl:
  - subject: admin.requests
    operations: [get, set, delete, list, rotate, status, creds, revoke]
  - subject: agents.requests
    operations: [get]
nats_credentials:
  account: $account
  signing_key: $run/nats/account-signing.nk
  roles:
    agent:
      publish: ["agents.requests", "agents.{name}.>"]
      subscribe: ["_INBOX.{name}.>", "agents.{name}.>"]
      ttl: 15m
      max_ttl: 1h
YAML
# revoke with public_key (a .run made before nats-init wrote account.jwt has none)
if [ -s "$run/nats/account.jwt" ]; then
  cat >> "$run/config.yaml" <<YAML
  operator_signing_key: $run/nats/operator.nk
  account_jwt: $run/nats/account.jwt
  system_creds: $run/nats/system.creds
YAML
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "make run-operator: stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup INT TERM EXIT

setsid "$nats_server" -c "$run/nats-server.conf" > "$run/nats-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do port_busy "$port" && break; sleep 0.1; done
port_busy "$port" || { echo "make run-operator: nats-server did not start:"; cat "$run/nats-server.log"; exit 1; }
echo "make run-operator: nats-server in operator mode on $url (log: $run/nats-server.log)"

setsid "$bin" serve --config "$run/config.yaml" &
pids+=($!)

admin="$bin request --server $url --creds $run/nats/admin.creds --inbox-prefix _INBOX.admin"
for _ in $(seq 100); do
  $admin --timeout 0.2 admin.requests status >/dev/null 2>&1 && break
  sleep 0.1
done
echo demo-value | $admin admin.requests set demo/api-key - >/dev/null

cat <<EOF

vaultctl is serving on $url and mints NATS credentials. Try, in another terminal:

  # an admin mints credentials for agent-7, valid 5 minutes (role agent)
  rm -f $run/agent-7.creds
  $admin --field role=agent --field name=agent-7 --field ttl=5m --creds-out $run/agent-7.creds admin.requests creds

  # agent-7 reads a secret with them (it may publish only agents.requests and agents.agent-7.>)
  $bin request --server $url --creds $run/agent-7.creds --inbox-prefix _INBOX.agent-7 agents.requests get demo/api-key

  # not allowed for agent-7: the server refuses the publish (permissions violation)
  $bin request --server $url --creds $run/agent-7.creds --inbox-prefix _INBOX.agent-7 --timeout 1 admin.requests status

  # revoke them before the ttl (the public key is in the creds reply and the audit event):
  # the server drops agent-7's connections at once
  $admin --field public_key=U... admin.requests revoke

After the ttl the server disconnects agent-7 and refuses its credentials.
Ctrl-C stops both.
EOF

wait -n "${pids[@]}" || true
