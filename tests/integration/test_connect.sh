#!/usr/bin/env bash
# The ways `vaultctl serve` connects (PROTOCOL.md section 4, issue: serve):
# TLS with a private CA and a client certificate the server verifies, token
# auth, a comma-separated server list whose first URL is dead, and secrets
# from ..._FILE environment variables. Each against a real nats-server on a
# free loopback port.  Usage: test_connect.sh PATH/TO/vaultctl
set -u
bin=$1
tmp=$(mktemp -d /tmp/vaultctl-connect-XXXXXX)
passed=0 failed=0
ok()   { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=natsport.sh
. "$(dirname "$0")/natsport.sh"
free_port() { nats_free_port; }

# Waits up to 5 s for text $1 in log $2.
wait_log() { for _ in $(seq 100); do grep -q "$1" "$2" && return 0; sleep 0.05; done; return 1; }

# Starts `vaultctl serve` with config $1 (extra env in the caller) and waits
# for "serving as instance" in its log $2.
start_vault() {
  "$bin" serve --config "$1" > "$2" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q "serving as instance" "$2" && return 0; sleep 0.05; done
  return 1
}

"$bin" keygen > "$tmp/master.key"
chmod 600 "$tmp/master.key"
vault_config() { # url extra-yaml store
  cat <<EOF
nats:
  url: $1
$2
encryption:
  master_key: $tmp/master.key
storage:
  path: $3
acl:
  - subject: admin.requests
    operations: [get, set, status]
EOF
}

# ---- 1. TLS: private CA, server cert for 127.0.0.1, client cert verified ----
cd "$tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vaultctl test CA" \
  -keyout ca.key -out ca.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile san.ext -out server.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=vaultctl" -keyout client.key -out client.csr >/dev/null 2>&1
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -out client.pem >/dev/null 2>&1
cd - >/dev/null

tls_conf() {
  cat <<EOF
listen: 127.0.0.1:$1
tls {
  cert_file: "$tmp/server.pem"
  key_file: "$tmp/server.key"
  ca_file: "$tmp/ca.pem"
  verify: true
}
EOF
}
nats_up tls_conf "$tmp/tls-nats.log" || fail "TLS nats-server did not start"
pids+=($nats_pid)
tls_port=$nats_port

vault_config "tls://127.0.0.1:$tls_port" "  tls:
    ca: $tmp/ca.pem
    cert: $tmp/client.pem
    key: $tmp/client.key" "$tmp/data-tls" > "$tmp/tls.yaml"
if start_vault "$tmp/tls.yaml" "$tmp/tls-vault.log"; then
  reply=$("$bin" request --server "tls://127.0.0.1:$tls_port" --tls-ca "$tmp/ca.pem" \
          --tls-cert "$tmp/client.pem" --tls-key "$tmp/client.key" \
          admin.requests set tls/k over-tls 2>&1)
  echo "$reply" | grep -q '"status":"success"' && ok "serve over TLS with a verified client certificate" ||
    fail "request over TLS: $reply"
  wait_log "audit events have their own connection" "$tmp/tls-vault.log" &&
    ok "the audit connection comes up over TLS too" || fail "no audit connection over TLS"
else
  fail "serve over TLS did not come up: $(cat "$tmp/tls-vault.log")"
fi
# Without the client certificate the server refuses the connection.
vault_config "tls://127.0.0.1:$tls_port" "  tls:
    ca: $tmp/ca.pem" "$tmp/data-tls2" > "$tmp/tls-nocert.yaml"
if "$bin" request --server "tls://127.0.0.1:$tls_port" --tls-ca "$tmp/ca.pem" --timeout 1 \
     admin.requests status >/dev/null 2>&1; then
  fail "a client without a certificate got through"
else
  ok "nats-server refuses a client without a certificate"
fi

# ---- 2. token auth, token from a ..._FILE variable ----
token=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$token" > "$tmp/token"
token_conf() {
  cat <<EOF
listen: 127.0.0.1:$1
authorization { token: "$token" }
EOF
}
nats_up token_conf "$tmp/token-nats.log" || fail "token nats-server did not start"
pids+=($nats_pid)
tok_port=$nats_port

# ---- 3. a server list whose first URL is dead ----
dead=$(free_port)
vault_config "nats://127.0.0.1:$dead,nats://127.0.0.1:$tok_port" "" "$tmp/data-tok" > "$tmp/token.yaml"
if VAULTCTL_NATS_TOKEN_FILE="$tmp/token" start_vault "$tmp/token.yaml" "$tmp/token-vault.log"; then
  reply=$("$bin" request --server "nats://127.0.0.1:$tok_port" --token "$token" admin.requests status 2>&1)
  echo "$reply" | grep -q '"status":"success"' &&
    ok "token from VAULTCTL_NATS_TOKEN_FILE, first of two URLs dead" || fail "token request: $reply"
  wait_log "audit events have their own connection" "$tmp/token-vault.log" &&
    ok "the audit connection comes up with the token, past the dead URL" ||
    fail "no audit connection with the token"
  grep -q "$token" "$tmp/token-vault.log" && fail "the token appears in the log" ||
    ok "the token never appears in the log"
else
  fail "serve with a token did not come up: $(cat "$tmp/token-vault.log")"
fi
# A wrong token is refused by the server.
"$bin" request --server "nats://127.0.0.1:$tok_port" --token wrong --timeout 1 admin.requests status \
  >/dev/null 2>&1 && fail "a wrong token got through" || ok "a wrong token is refused"

# ---- 4. --check on a broken configuration names file, line and setting ----
printf 'nats:\n  url: nats://127.0.0.1:4222\nacl:\n  - subject: admin.requests\n    operations: [get, fly]\n' \
  > "$tmp/broken.yaml"
msg=$("$bin" serve --check --config "$tmp/broken.yaml" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$msg" | grep -q "$tmp/broken.yaml:5: acl\[0\].operations\[1\]"; then
  ok "serve --check: $msg"
else
  fail "serve --check on a broken config (rc $rc): $msg"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
