#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries for the cluster tests (and
# scripts/cluster.sh) unless they are there already. The tests start their own private
# server (scripts/pg-test-server.sh); the package's default cluster is not used.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL is missing: run as root, or apt-get install postgresql" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
