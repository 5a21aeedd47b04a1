# natsport.sh - sourced by the shell integration tests: start a nats-server
# on a free loopback port, and on a new port again when the bind fails (a
# port found free can be taken by another process before the server binds
# it, which happens on a busy machine).
#
#   nats_up WRITE_CONF LOG   WRITE_CONF PORT prints the server's config for
#                            PORT; the server's output goes to LOG. Sets
#                            nats_port and nats_pid; returns 1 after 5 tries.
# Environment assignments before nats_up reach the server (bash exports
# them to the function's commands).

NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}

nats_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

nats_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    nats_port_busy "$p" || { echo "$p"; return 0; }
  done
  return 1
}

nats_up() {
  local write=$1 log=$2 conf=${2%.log}.conf try p
  nats_port="" nats_pid=""
  for try in 1 2 3 4 5; do
    p=$(nats_free_port) || continue
    "$write" "$p" > "$conf" || return 1
    "$NATS_SERVER" -c "$conf" > "$log" 2>&1 &
    nats_pid=$!
    # Ready when it says so in its log and still runs: an open port alone
    # could be another process that took it.
    for _ in $(seq 1 400); do
      kill -0 "$nats_pid" 2>/dev/null || break
      if grep -q "Server is ready" "$log" && nats_port_busy "$p"; then
        nats_port=$p
        return 0
      fi
      sleep 0.05
    done
    kill -9 "$nats_pid" 2>/dev/null
    wait "$nats_pid" 2>/dev/null
    echo "nats-server did not come up on port $p (try $try of 5): $(tail -n 2 "$log")" >&2
  done
  nats_pid=""
  return 1
}
