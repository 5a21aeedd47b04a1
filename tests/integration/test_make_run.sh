#!/usr/bin/env bash
# The README's first command, `make run`, as a new user meets it: runs
# scripts/run-dev.sh (what `make run` calls after building) in a temporary
# folder on a free port, runs the three commands it prints exactly as
# printed, checks the NATS server's own permissions, then Ctrl-C (SIGINT)
# and checks that both processes stopped.  Usage: test_make_run.sh BUILD_DIR
set -u
build=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/vaultctl-makerun-XXXXXX)
out="$tmp/out.txt"
passed=0 failed=0
ok()   { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=$((20000 + RANDOM % 20000))
while port_busy $port; do port=$((20000 + RANDOM % 20000)); done
# Job control on, so the background script keeps SIGINT like a terminal's
# foreground job (a non-interactive shell would start it with SIGINT ignored).
set -m
VAULTCTL_RUN_DIR="$tmp/run" NATS_PORT=$port "$root/scripts/run-dev.sh" "$build" > "$out" 2>&1 &
script=$!
for _ in $(seq 600); do grep -q "Ctrl-C stops both" "$out" && break; sleep 0.1; done
grep -q "Ctrl-C stops both" "$out" && ok "make run started and printed its commands" || fail "make run did not come up: $(cat "$out")"
# run-dev.sh moves to another port when the one asked for is taken.
port=$(sed -n 's#^make run: nats-server on nats://127.0.0.1:\([0-9]*\) .*#\1#p' "$out" | head -1)

mapfile -t cmds < <(grep -E '^  .*vaultctl request ' "$out" | sed 's/^  //')
[ "${#cmds[@]}" -eq 4 ] && ok "four example commands printed" || fail "expected 4 commands, got ${#cmds[@]}"
i=0
for c in "${cmds[@]}"; do
  i=$((i + 1))
  reply=$(bash -c "$c" 2>&1); rc=$?
  if echo "$reply" | grep -q 'visible to other users'; then
    fail "command $i puts a secret on the command line: $reply"
  elif [ $rc -eq 0 ] && echo "$reply" | grep -q '"status":"success"'; then
    ok "command $i works as printed: $reply"
  else
    fail "command $i (rc $rc): $c -> $reply"
  fi
done
echo "${cmds[1]:-}" | grep -q user.requests && {
  reply=$(bash -c "${cmds[1]}") && echo "$reply" | grep -q '"data":"sk-demo-123"' &&
    ok "the agent reads what the admin stored" || fail "agent get: $reply"
}

# The fourth: the admin issues a token with 2 uses, the agent reads with it;
# one use is left, the next after that is refused.
echo "${cmds[3]:-}" | grep -q agents.requests && {
  reply=$(bash -c "${cmds[3]}" 2>&1)
  echo "$reply" | grep -q '"data":"sk-demo-123"' && echo "$reply" | grep -q '"uses_left":1' &&
    ok "the agent reads with the scoped token (1 use left): $reply" || fail "token command: $reply"
  use="$build/vaultctl request --server nats://127.0.0.1:$port --user agent --pass-file $tmp/run/agent.pass --token-file $tmp/run/agent.token agents.requests get demo/api-key"
  reply=$($use 2>&1)
  echo "$reply" | grep -q '"uses_left":0' && ok "the second use leaves none" || fail "second use: $reply"
  reply=$($use 2>&1)
  echo "$reply" | grep -q '"code":"token_invalid"' && ok "the token's third use is refused" || fail "third use: $reply"
}

# The agent may not delete (ACL) nor publish on admin.requests (NATS server).
agent="$build/vaultctl request --server nats://127.0.0.1:$port --user agent --pass-file $tmp/run/agent.pass --timeout 1"
reply=$($agent user.requests delete demo/api-key 2>&1)
echo "$reply" | grep -q '"code":"access_denied"' && ok "ACL denies delete to the agent" || fail "agent delete: $reply"
$agent admin.requests delete demo/api-key >/dev/null 2>&1 && fail "agent published on admin.requests" ||
  ok "nats-server stops the agent publishing on admin.requests"

# best_effort audit events have their own connection, with the vault user's
# permissions: it comes up, and the server refuses none of its events.
grep -q "audit events have their own connection" "$out" &&
  ok "the audit connection comes up with the example permissions" || fail "no audit connection"
grep -q 'Violation.*vault\.audit' "$tmp/run/nats-server.log" &&
  fail "nats-server refused audit events: $(grep 'vault\.audit' "$tmp/run/nats-server.log" | head -2)" ||
  ok "nats-server accepts the audit events"

vpid=$(pgrep -f "vaultctl serve --config $tmp/run/config.yaml" | head -1)
npid=$(pgrep -f "nats-server -c $root/examples/nats-server.conf -a 127.0.0.1 -p $port" | head -1)
kill -INT "$script"
for _ in $(seq 100); do kill -0 "$script" 2>/dev/null || break; sleep 0.1; done
gone=1
for p in $script $vpid $npid; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && gone=0; done
[ $gone -eq 1 ] && ok "Ctrl-C stopped vaultctl and nats-server" || fail "processes still running after Ctrl-C"
grep -q "vaultctl stopped" "$out" && ok "vaultctl drained and exited" || fail "no clean vaultctl stop in output"

[ $failed -eq 0 ] || { echo "---- output ----"; cat "$out"; }
for p in $script $vpid $npid; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
rm -rf "$tmp"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
