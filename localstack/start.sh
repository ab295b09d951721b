#!/usr/bin/env bash
# Start LocalStack (S3, SNS, SQS, CloudFormation, STS) as a host process, without Docker.
# Idempotent: only ensures the venv if LocalStack already answers on $LOCALSTACK_PORT (default 4566).
# On first run it creates .dev/localstack-venv (Python 3.11, localstack-core 4.13.1).
# The ready.d init hook deploys infra/messaging.yaml as stack "favicon-dev" (Prefix "dev-").
#
# Env: LOCALSTACK_PORT (4566), LOCALSTACK_START_TIMEOUT (120 s), LOCALSTACK_PYTHON (python3).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

TIMEOUT="${LOCALSTACK_START_TIMEOUT:-120}"
PIDFILE="$DEV_DIR/localstack.pid"
LOGFILE="$DEV_DIR/localstack.log"
FS_ROOT="$DEV_DIR/localstack-fs"
CONSTRAINTS="$REPO_ROOT/localstack/constraints-py311.txt"

need curl python3
mkdir -p "$DEV_DIR"

# --- venv (create if missing or broken) -------------------------------------------------
# Always ensured, even when LocalStack already runs: its aws CLI and boto3 serve the scripts.
venv_ok() {
  [[ -x "$LOCALSTACK_VENV/bin/python" && -x "$LOCALSTACK_VENV/bin/aws" ]] \
    && "$LOCALSTACK_VENV/bin/python" - "$LOCALSTACK_VERSION" <<'EOF' 2>/dev/null
import sys, importlib.metadata as m
assert sys.version_info[:2] == (3, 11), "Python 3.11 needed for localstack-core 4.13.1"
assert m.version("localstack-core") == sys.argv[1]
import localstack.runtime.main, boto3  # noqa: F401
EOF
}
if ! venv_ok; then
  pyver="$("$LOCALSTACK_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  [[ "$pyver" == "3.11" ]] || die "$LOCALSTACK_PYTHON is Python $pyver; this recipe needs 3.11 (set LOCALSTACK_PYTHON)"
  log "creating $LOCALSTACK_VENV (localstack-core[runtime]==$LOCALSTACK_VERSION); takes a few minutes the first time"
  rm -rf "$LOCALSTACK_VENV"
  "$LOCALSTACK_PYTHON" -m venv "$LOCALSTACK_VENV"
  "$LOCALSTACK_VENV/bin/pip" install -q --disable-pip-version-check -c "$CONSTRAINTS" \
    "localstack-core[runtime]==$LOCALSTACK_VERSION" \
    'cbor2<5.7' 'pyopenssl<24.3' 'cryptography<44' 'service_identity<24.2' >&2
  venv_ok || die "venv $LOCALSTACK_VENV is still not usable after install"
fi


if localstack_healthy; then
  log "LocalStack already answers at $LOCALSTACK_URL; nothing to do."
  exit 0
fi

mkdir -p "$DEV_DIR"

# A pidfile whose process is alive but not (yet) healthy: another start is in progress
# or LocalStack hangs. Do not start a second one on the same port.
if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  log "LocalStack process $(cat "$PIDFILE") exists but is not healthy yet; waiting for it."
else
  rm -f "$PIDFILE"

  # --- init hooks ----------------------------------------------------------------------
  HOOK_DIR="$FS_ROOT/etc/localstack/init/ready.d"
  mkdir -p "$HOOK_DIR"
  find "$HOOK_DIR" -maxdepth 1 -type f -delete
  for f in "$REPO_ROOT"/localstack/init/ready.d/*; do
    [[ -f "$f" ]] && install -m 0755 "$f" "$HOOK_DIR/"
  done

  # --- start -----------------------------------------------------------------------------
  log "starting LocalStack on $LOCALSTACK_BIND_HOST:$LOCALSTACK_PORT (log: $LOGFILE)"
  : >"$LOGFILE"
  # setsid: own process group, so stop.sh can stop it with its children.
  GATEWAY_LISTEN="$LOCALSTACK_BIND_HOST:$LOCALSTACK_PORT" \
  SERVICES="s3,sns,sqs,cloudformation,sts" \
  OVERRIDE_IN_DOCKER=0 \
  FILESYSTEM_ROOT="$FS_ROOT" \
  DNS_DISABLED=1 \
  DISABLE_EVENTS=1 \
  SQS_ENDPOINT_STRATEGY=path \
  LOCALSTACK_HOST="$LOCALSTACK_BIND_HOST:$LOCALSTACK_PORT" \
  FAVICON_TEMPLATE="$REPO_ROOT/infra/messaging.yaml" \
  FAVICON_ENDPOINT="$LOCALSTACK_URL" \
    setsid "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main \
      >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
fi

# --- wait until healthy and the ready.d hooks have finished ------------------------------
start_ts="$(now)"
deadline=$(( start_ts + TIMEOUT ))
pid="$(cat "$PIDFILE")"
state="starting"
while :; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "LocalStack process $pid exited. Last log lines:"
    tail -n 40 "$LOGFILE" >&2 || true
    rm -f "$PIDFILE"
    exit 1
  fi
  if localstack_healthy; then
    state="healthy, waiting for init hooks"
    rc=0; localstack_init_ready || rc=$?
    if (( rc == 0 )); then break; fi
    if (( rc == 2 )); then
      log "an init hook failed. Last log lines:"
      tail -n 40 "$LOGFILE" >&2 || true
      exit 1
    fi
  fi
  if (( $(now) >= deadline )); then
    log "timed out after ${TIMEOUT}s ($state). Last log lines:"
    tail -n 40 "$LOGFILE" >&2 || true
    exit 1
  fi
  sleep 0.5
done
log "LocalStack ready at $LOCALSTACK_URL (pid $pid, $(( $(now) - start_ts ))s)."
