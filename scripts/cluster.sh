#!/usr/bin/env bash
# A local three-node kurve cluster (CONTRACT §9) on one machine, with everything it
# needs: nats-server with JetStream and a private PostgreSQL (Debian's packages, installed
# if missing, as root), and three kurve-server nodes sharing them and one token secret:
#   node a: http://127.0.0.1:4001   node b: http://127.0.0.1:4002   node c: http://127.0.0.1:4003
# Open two nodes in two browsers: they see each other in the lobby and play one room; a
# third spectates from the third node. Stop one node (kill -9 its pid, printed below)
# mid-round and another adopts its rooms. Ctrl-C stops everything; state is kept in
# target/cluster/ (delete it to start over). Extra arguments go to every node.
# The cluster is locked: NATS lets in only the user `kurve` with a generated password
# (target/cluster/nats-password), and every message between nodes is sealed with the
# generated KURVE_SECRET (target/cluster/secret). Both files are private (mode 600).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-nats.sh >/dev/null
scripts/install-postgres.sh

if [ -f web-client/package.json ]; then
  echo "==> building the web client"
  (cd web-client && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
fi
echo "==> building kurve-server"
cargo build --release -p kurve-server

state=target/cluster
mkdir -p "$state"
state=$(cd "$state" && pwd)
nats_port=${KURVE_CLUSTER_NATS_PORT:-4222}
pg_port=${KURVE_CLUSTER_PG_PORT:-5433}
umask 077
[ -f "$state/secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/secret"
[ -f "$state/nats-password" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/nats-password"
export KURVE_SECRET KURVE_NATS_USER KURVE_NATS_PASSWORD
KURVE_SECRET=$(cat "$state/secret")
KURVE_NATS_USER=kurve
KURVE_NATS_PASSWORD=$(cat "$state/nats-password")
# NATS's password goes in a config file, not on its command line (which `ps` shows).
cat >"$state/nats.conf" <<EOF
authorization {
  user: "$KURVE_NATS_USER"
  password: "$KURVE_NATS_PASSWORD"
}
EOF
umask 022

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "==> stopping the cluster"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg-test-server.sh stop "$state/postgres"
}
trap cleanup EXIT INT TERM

echo "==> nats-server (JetStream, password required) on 127.0.0.1:$nats_port"
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
"$nats" -c "$state/nats.conf" -js -a 127.0.0.1 -p "$nats_port" -sd "$state/nats" >"$state/nats.log" 2>&1 &
pids+=($!)

echo "==> PostgreSQL on 127.0.0.1:$pg_port"
database_url=$(scripts/pg-test-server.sh start "$state/postgres" "$pg_port")

for i in 1 2 3; do
  id=$(printf '%s' abc | cut -c"$i")
  port=$((4000 + i))
  target/release/kurve-server --bind "127.0.0.1:$port" --node-id "$id" \
    --cluster "nats://127.0.0.1:$nats_port" --database-url "$database_url" "$@" \
    >"$state/node-$id.log" 2>&1 &
  pids+=($!)
  echo "    node $id: http://127.0.0.1:$port  (pid $!, log $state/node-$id.log)"
done

for port in 4001 4002 4003; do
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
done
echo "==> the cluster as node a sees it:"
curl -fsS http://127.0.0.1:4001/api/cluster || true
echo
echo "==> running; Ctrl-C stops all three nodes, NATS and PostgreSQL"
wait
