#!/usr/bin/env bash
# Install (when absent) and start the services the test suite needs:
# PostgreSQL 15 with pgvector and Redis (and PgBouncer, for the pooler tests), from Debian
# packages, on loopback ports.
# Idempotent: a second call finds them running and only prints their URLs.
# Prints `export NEXOD_TEST_*` lines that the Makefile and the tests read.
set -euo pipefail

BASE=${NEXOD_SERVICES_DIR:-/tmp/nexod-services}
PG_PORT=${NEXOD_TEST_PG_PORT:-55432}
REDIS_PORT=${NEXOD_TEST_REDIS_PORT:-56379}
PG_BIN=/usr/lib/postgresql/15/bin
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
log() { echo "[services] $*" >&2; }

need_apt=()
[ -x "$PG_BIN/postgres" ] || need_apt+=(postgresql-15)
[ -x "$PG_BIN/pg_config" ] || [ -x /usr/bin/pg_config ] || need_apt+=(postgresql-server-dev-15)
command -v redis-server >/dev/null || need_apt+=(redis-server)
# PgBouncer is started by the tests that check transaction pooling (not here).
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null || need_apt+=(pgbouncer)
# promtool (from Debian's prometheus package) checks and unit-tests deploy/prometheus rules.
command -v promtool >/dev/null || need_apt+=(prometheus)
if [ ! -f /usr/share/postgresql/15/extension/vector.control ]; then
  need_apt+=(postgresql-server-dev-15 build-essential)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

if [ ! -f /usr/share/postgresql/15/extension/vector.control ]; then
  # Debian 12 has no pgvector package; the Debian 13 source package builds against PG 15.
  log "building pgvector from the Debian source package"
  A=$BASE/apt; mkdir -p $A/parts $A/lists/partial $A/cache $A/src
  awk 'BEGIN{RS="";ORS="\n"} NR==1' /etc/apt/sources.list.d/debian.sources | grep -v '^#' \
    | sed -e 's/^Types:.*/Types: deb-src/' -e 's/^Suites:.*/Suites: trixie/' > $A/parts/trixie-src.sources
  APTO="-o Dir::Etc::sourcelist=/nonexistent -o Dir::Etc::sourceparts=$A/parts -o Dir::State::Lists=$A/lists -o Dir::Cache=$A/cache"
  $SUDO apt-get $APTO update -qq >&2
  (cd $A/src && apt-get $APTO source pgvector >&2)
  (cd $A/src/pgvector-*/ && make -s -j2 with_llvm=no PG_CONFIG=$PG_BIN/pg_config >&2 \
     && $SUDO make -s install with_llvm=no PG_CONFIG=$PG_BIN/pg_config >&2)
fi

mkdir -p "$BASE"
if ! $PG_BIN/pg_isready -h 127.0.0.1 -p "$PG_PORT" -q 2>/dev/null; then
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  install -d -o postgres -g postgres "$BASE/pg"
  if [ ! -f "$BASE/pg/data/PG_VERSION" ]; then
    runuser -u postgres -- $PG_BIN/initdb -D "$BASE/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  runuser -u postgres -- $PG_BIN/pg_ctl -D "$BASE/pg/data" -l "$BASE/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $BASE/pg -c fsync=off -c max_connections=300" start >/dev/null
fi
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null

if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
    --pidfile "$BASE/redis.pid" --logfile "$BASE/redis.log" >/dev/null
fi

echo "export NEXOD_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
echo "export NEXOD_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
