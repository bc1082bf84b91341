#!/usr/bin/env bash
# A private, throwaway PostgreSQL server for tests and the local cluster:
#   scripts/pg-test-server.sh start DIR PORT   → prints its URL once it accepts connections
#   scripts/pg-test-server.sh stop DIR
# Data and socket live in DIR (kept: a second start reuses them); trust authentication
# on 127.0.0.1 only; fsync off.
# As root it runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
case $cmd in
  start)
    port=$3
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      "${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U kurve --no-sync >"$dir/initdb.log" 2>&1
    fi
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" \
      start >/dev/null
    echo "postgres://kurve@127.0.0.1:$port/postgres"
    ;;
  stop)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
