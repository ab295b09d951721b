#!/usr/bin/env bash
# Make sure a PostgreSQL server is available and print its admin URL on stdout
# (messages go to stderr), e.g.:   ADMIN_URL="$(scripts/ensure-postgres.sh)"
#
# 1. If $DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) accepts
#    connections, print it and stop.
# 2. Otherwise init (once) and start a private cluster in .dev/pg with Debian's binaries
#    (/usr/lib/postgresql/<ver>/bin): port $PG_PORT (55432), 127.0.0.1 + unix socket in
#    .dev/pg/run, trust auth, superuser "postgres". Idempotent: reuses/starts it.
# Stop the private cluster with scripts/stop-postgres.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need psql pg_isready

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_url_ok() {
  pg_isready -q -t 3 -d "$1" >/dev/null 2>&1 \
    && psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

if pg_url_ok "$DATABASE_URL"; then
  log "PostgreSQL reachable at $(redact_url "$DATABASE_URL")"
  printf '%s\n' "$DATABASE_URL"
  exit 0
fi

log "PostgreSQL not reachable at $(redact_url "$DATABASE_URL"); using private cluster in $PG_DIR (port $PG_PORT)"
if pg_url_ok "$PG_PRIVATE_URL"; then
  log "private cluster already running"
  printf '%s\n' "$PG_PRIVATE_URL"
  exit 0
fi

PG_BIN="$(pg_bindir)" || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
mkdir -p "$PG_DIR/run"
pg_prepare_owner "$PG_DIR"

if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
  log "initdb $PG_DATA ($PG_BIN)"
  rm -rf "$PG_DATA"
  pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
fi
pgdata_ver="$(cat "$PG_DATA/PG_VERSION")"
[[ "$PG_BIN" == *"/$pgdata_ver/bin" ]] || {
  PG_BIN="/usr/lib/postgresql/$pgdata_ver/bin"
  [[ -x "$PG_BIN/pg_ctl" ]] || die "$PG_DATA was made by PostgreSQL $pgdata_ver, whose binaries are missing; remove $PG_DIR"
}

# Remove a stale pidfile left by a killed server (pg_ctl start would refuse otherwise).
if [[ -f "$PG_DATA/postmaster.pid" ]] && ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
  log "removing stale $PG_DATA/postmaster.pid"
  rm -f "$PG_DATA/postmaster.pid"
fi

log "starting private cluster (log: $PG_DIR/postgres.log)"
pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t 60 \
  -o "-p $PG_PORT -k $PG_DIR/run -c listen_addresses=127.0.0.1" start >&2 \
  || { tail -n 30 "$PG_DIR/postgres.log" >&2 || true; die "pg_ctl start failed"; }

pg_url_ok "$PG_PRIVATE_URL" || die "private cluster started but $PG_PRIVATE_URL does not answer"
log "private cluster ready"
printf '%s\n' "$PG_PRIVATE_URL"
