#!/usr/bin/env bash
# Starts a loopback PostgreSQL for the tests (issue #14) and prints the connection URL the tests read from
# HERD_TEST_PG. Installs the Debian package when absent; creates a role and database `herd_test` once. Runs as root
# (CI) and is idempotent, so developers can run it too: `export HERD_TEST_PG=$(tests/postgres.sh)`. A user who is not
# root is asked for sudo; without sudo it says so and fails (prints no URL).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo "$0" "$@"
  fi
  echo "Error: tests/postgres.sh installs and starts PostgreSQL, which needs root: run it as root, or install sudo." >&2
  exit 1
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -n | tail -1)
if [ -z "$version" ]; then
  echo "Error: no PostgreSQL cluster under /etc/postgresql; create one with pg_createcluster" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" && $4=="online" {found=1} END {exit !found}'; then
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
psql_as_postgres() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qAt $*"; }
if [ "$(psql_as_postgres "-c \"SELECT 1 FROM pg_roles WHERE rolname = 'herd_test'\"")" != "1" ]; then
  psql_as_postgres "-c \"CREATE ROLE herd_test LOGIN PASSWORD 'herd_test' CREATEDB\"" >&2
fi
if [ "$(psql_as_postgres "-c \"SELECT 1 FROM pg_database WHERE datname = 'herd_test'\"")" != "1" ]; then
  psql_as_postgres "-c \"CREATE DATABASE herd_test OWNER herd_test\"" >&2
fi
echo "postgres://herd_test:herd_test@127.0.0.1:$port/herd_test"
