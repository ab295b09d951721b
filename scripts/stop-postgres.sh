#!/usr/bin/env bash
# Stop the private PostgreSQL cluster in .dev/pg (started by scripts/ensure-postgres.sh).
# Idempotent. Never touches a system PostgreSQL. Use --purge to also delete its data.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
[[ "${1:-}" == "--purge" ]] && purge=1

if [[ -f "$PG_DATA/PG_VERSION" ]]; then
  PG_BIN="/usr/lib/postgresql/$(cat "$PG_DATA/PG_VERSION")/bin"
  if [[ -x "$PG_BIN/pg_ctl" ]] && pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "stopping private cluster $PG_DATA"
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >&2
  else
    log "private cluster $PG_DATA is not running."
  fi
else
  log "no private cluster in $PG_DATA."
fi

if (( purge )); then
  log "removing $PG_DIR"
  rm -rf "$PG_DIR"
fi
