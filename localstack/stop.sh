#!/usr/bin/env bash
# Stop the host LocalStack started by localstack/start.sh (by pidfile, with its children).
# Idempotent: succeeds if it is not running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

PIDFILE="$DEV_DIR/localstack.pid"

if [[ ! -f "$PIDFILE" ]]; then
  log "no pidfile ($PIDFILE); LocalStack (started by start.sh) is not running."
  exit 0
fi
pid="$(cat "$PIDFILE")"
if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  log "process ${pid:-?} is not running; removing stale pidfile."
  rm -f "$PIDFILE"
  exit 0
fi

# start.sh runs LocalStack under setsid, so its pid is also its process-group id.
signal_all() {
  local sig="$1"
  if [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then
    kill "-$sig" -- "-$pid" 2>/dev/null || true
  else
    pkill "-$sig" -P "$pid" 2>/dev/null || true
    kill "-$sig" "$pid" 2>/dev/null || true
  fi
}

log "stopping LocalStack (pid $pid)"
signal_all TERM
for _ in $(seq 1 40); do   # up to 20 s for a clean shutdown
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  log "still running after 20 s; sending SIGKILL"
  signal_all KILL
  sleep 0.5
fi
rm -f "$PIDFILE"
log "stopped."
