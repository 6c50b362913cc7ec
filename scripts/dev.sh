#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine with Python 3.11+.
#
#   bash scripts/dev.sh build [build_templates.py options]   generate out/ (the main job)
#   bash scripts/dev.sh test  [pytest options]                lint, type-check, run every test
#   bash scripts/dev.sh env                                    only create/refresh the venvs
#
# It creates .venv from requirements/dev.txt and .venv-scan (checkov, which pins an old
# boto3) from requirements/scanners.txt, both installed with --require-hashes by uv (itself
# installed by pip into .venv-uv from the hash-locked requirements/uv.txt), and
# reinstalls only when a lock file changes. `test` also installs the system packages the
# suite needs (PostgreSQL, Redis, the Docker engine with buildx and Compose v2, buildah,
# podman, runc, debootstrap) when it can, and starts PostgreSQL and Redis when they are
# down, and stops at exit exactly those it started (never a server that was already up).
# The suite starts a Docker engine of its own for each run (tests/container/engine.py)
# and stops it; after pytest, whatever its fate, `test` removes any engine a run left behind.
# For speed `test` overlaps what does not depend on each other: the apt installs run while
# the venvs are installed and mypy checks, and mypy's result is awaited only after pytest
# (which runs on every core with pytest-xdist); any failure of either fails the run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}

log() { printf '[dev] %s\n' "$*" >&2; }
die() { printf '[dev] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  # Install the named Debian packages that are missing; quiet when all are present.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || die "apt-get update failed (need root or sudo)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || die "could not install ${missing[*]}"
}

check_python() {
  "$PY" - <<'PYEOF' || die "Python 3.11 or newer is required (set PYTHON=...)"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF
  if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    local ver; ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${ver}-venv"
  fi
}

UV_VENV=.venv-uv
UV_LOCK=requirements/uv.txt

ensure_venv() {
  # ensure_venv DIR LOCKFILE: create DIR and install LOCKFILE with hashes, once per lock.
  # uv installs them: the same hash check, and several times faster than pip (measured for
  # requirements/dev.txt on a fresh venv: pip 101 s of CPU with a warm download cache; uv
  # 12 s with a cold one, plus the byte-code below).
  # --compile-bytecode: byte-code written once here, in parallel, as pip did, not by each
  # pytest worker importing the same modules at once. uv itself is installed by pip, from
  # requirements/uv.txt with its hashes, into .venv-uv.
  local dir=$1 lock=$2 stamp want
  stamp="$dir/.lock-sha256"
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  log "installing $lock into $dir"
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  if [ "$dir" = "$UV_VENV" ]; then
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
      --no-deps -r "$lock"
  else
    "$UV_VENV/bin/uv" pip install -q --python "$dir/bin/python" --require-hashes \
      --no-deps --compile-bytecode -r "$lock"
  fi
  echo "$want" >"$stamp"
}

# Background steps of `test` (bg NAME CMD...): each one's output goes to its own log, shown
# when it is awaited (bg_wait NAME), so that parallel steps do not interleave in the CI log.
# At exit, steps still running are stopped (by PID: only what this script started).
BG_DIR=""
declare -A BG_PID=()
bg() {
  local name=$1; shift
  [ -n "$BG_DIR" ] || BG_DIR=$(mktemp -d)
  date +%s >"$BG_DIR/$name.start"
  ( "$@"; rc=$?; date +%s >"$BG_DIR/$name.end"; exit "$rc" ) >"$BG_DIR/$name.log" 2>&1 &
  BG_PID[$name]=$!
}

bg_wait() {
  # bg_wait NAME: wait for the step, show its output; return its exit status.
  local name=$1 rc=0 took
  wait "${BG_PID[$name]}" || rc=$?
  unset "BG_PID[$name]"
  took=$(( $(cat "$BG_DIR/$name.end" 2>/dev/null || date +%s) - $(cat "$BG_DIR/$name.start") ))
  cat "$BG_DIR/$name.log" >&2
  if [ "$rc" -eq 0 ]; then log "$name: done in ${took} s"; else log "$name: failed (exit $rc) after ${took} s"; fi
  return "$rc"
}

bg_stop_all() {
  # mypy is stopped; an apt step is waited for (killing dpkg midway would break the system).
  local name pid
  for name in "${!BG_PID[@]}"; do
    pid=${BG_PID[$name]}
    if [ "$name" = mypy ]; then
      pid=$(cat "$BG_DIR/mypy.pid" 2>/dev/null || echo "$pid")
      log "stopping mypy (pid $pid, still running)"
      kill "$pid" 2>/dev/null || true
      pid=${BG_PID[$name]}
    else
      log "waiting for $name (pid $pid) to finish"
    fi
    wait "$pid" 2>/dev/null || true
  done
  [ -z "$BG_DIR" ] || rm -rf "$BG_DIR"
}

run_mypy() {
  # mypy's own PID, for bg_stop_all: stopping the step's subshell alone would leave it running.
  mypy &
  echo $! >"$BG_DIR/mypy.pid"
  wait $!
}

# Compose v2 and buildx for the Docker CLI. Debian bookworm has neither (its docker-compose
# is v1, which lacks `up --wait`); Debian trixie's docker-compose and docker-buildx packages
# depend only on libc6 and run on bookworm. They are fetched with apt from a trixie source
# list of our own, in a throw-away apt state (trixie is never added to the system's
# sources), and unpacked into a directory both Debian's and Docker's CLIs search.
DOCKER_PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
install_docker_plugins() {
  local need=()
  docker buildx version >/dev/null 2>&1 || need+=(docker-buildx)
  docker compose version --short 2>/dev/null | grep -q '^v\?2\.' || need+=(docker-compose)
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { log "no ${need[*]}: run as root to install them"; return 0; }
  log "installing ${need[*]} (Debian trixie) into $DOCKER_PLUGIN_DIR"
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs" "$tmp/root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$tmp/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq || die "apt-get update (trixie) failed"
  (cd "$tmp/debs" && apt-get "${opts[@]}" download -qq "${need[@]}") \
    || die "could not download ${need[*]}"
  for deb in "$tmp"/debs/*.deb; do dpkg -x "$deb" "$tmp/root"; done
  mkdir -p "$DOCKER_PLUGIN_DIR"
  install -m 0755 "$tmp"/root/usr/libexec/docker/cli-plugins/docker-* "$DOCKER_PLUGIN_DIR/"
  rm -rf "$tmp"
}

remove_leftover_engines() {
  # Engines of test runs that ended without their teardown (killed, crashed): stopped,
  # unmounted and removed. Engines of runs still going (other worktrees) are left alone.
  [ -x .venv/bin/python ] && .venv/bin/python -m tests.container.engine sweep || true
}

# What start_services started itself (it was down before): stop_services stops exactly
# that at exit, and never a server that was running before this script (the machine's own).
STARTED_PG=()
STARTED_REDIS_PIDFILE=""

start_services() {
  if command -v pg_lsclusters >/dev/null 2>&1; then
    # Start every cluster that is not online (Debian's pg_lsclusters: ver cluster port status ...).
    local ver name
    while read -r ver name; do
      log "starting PostgreSQL $ver/$name"
      if as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start; then
        STARTED_PG+=("$ver/$name")
      fi
    done < <(pg_lsclusters -h 2>/dev/null | awk '$4 != "online" {print $1, $2}')
  fi
  if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    log "starting Redis"
    local pidfile=/var/run/co-dev-redis.pid
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root rm -f "$pidfile"
    if as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log --pidfile "$pidfile"; then
      STARTED_REDIS_PIDFILE=$pidfile
    fi
  fi
}

stop_services() {
  local cluster pid
  for cluster in ${STARTED_PG[@]+"${STARTED_PG[@]}"}; do
    log "stopping PostgreSQL $cluster (started by this run)"
    as_root pg_ctlcluster --skip-systemctl-redirect "${cluster%/*}" "${cluster#*/}" stop || true
  done
  if [ -n "$STARTED_REDIS_PIDFILE" ]; then
    # redis-server writes its pid file just after daemonizing: wait for it briefly.
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$STARTED_REDIS_PIDFILE" ] && break; sleep 0.2; done
    pid=$(cat "$STARTED_REDIS_PIDFILE" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      log "stopping Redis (pid $pid, started by this run)"
      as_root kill "$pid" 2>/dev/null || true
    fi
  fi
}

test_database_url() {
  # A server admin URL for the suite. The machine's own server when it answers with
  # trust auth; otherwise give the postgres role a local password (root only).
  local url=${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
  if .venv/bin/python - "$url" <<'PYEOF' >/dev/null 2>&1; then echo "$url"; return; fi
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PYEOF
  if [ -z "${TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    local pw=co-local-test
    runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD '$pw'" >/dev/null 2>&1 \
      && { echo "postgresql://postgres:$pw@127.0.0.1:5432/postgres"; return; }
  fi
  echo ""  # none: the suite starts a throw-away cluster from the local binaries
}

cmd_env() {
  check_python
  ensure_venv "$UV_VENV" "$UV_LOCK"
  # The two venvs at once (uv shares its cache between them safely).
  ensure_venv .venv-scan requirements/scanners.txt &
  local scan=$!
  ensure_venv .venv requirements/dev.txt || { wait "$scan" || true; die "installing requirements/dev.txt failed"; }
  wait "$scan" || die "installing requirements/scanners.txt failed"
}

cmd_build() {
  check_python
  # --diagram lays the diagrams out with Graphviz's dot (Debian's graphviz).
  case " $* " in *" --diagram "*) apt_install graphviz fonts-dejavu-core ;; esac
  ensure_venv "$UV_VENV" "$UV_LOCK"
  ensure_venv .venv requirements/dev.txt
  exec .venv/bin/python build_templates.py "$@"
}

cmd_test() {
  # docker.io: the engine the container tests start privately; podman stays for the chart's
  # pods (podman kube play), buildah for the second build of docker/Dockerfile.
  # catatonit: podman kube play builds its pause image with it (tests/helm/test_pods.py).
  # graphviz: build_templates.py --diagram; chromium: the landing page in a real browser.
  # wrk: the load generator of tests/templates/test_task_cpu.py and bench/.
  check_python  # first: it may apt-install pythonX.Y-venv, before the apt step below starts
  trap 'bg_stop_all; remove_leftover_engines; stop_services' EXIT
  # The system packages (network and dpkg) while the venvs install and mypy checks (CPU).
  bg apt apt_install git ca-certificates postgresql redis-server docker.io buildah podman \
    runc debootstrap skopeo uidmap iproute2 catatonit graphviz chromium fonts-dejavu-core wrk
  bg docker-plugins install_docker_plugins
  cmd_env
  export PATH="$ROOT/.venv/bin:$PATH" CHECKOV="$ROOT/.venv-scan/bin/checkov" BC_SKIP_MAPPING=TRUE
  log "ruff"
  ruff check .
  ruff format --check .
  # mypy (a minute or two of one core on a fresh clone) runs beside the apt step and pytest;
  # its verdict is awaited after pytest and fails the run like a failing test.
  log "mypy --strict (in the background)"
  bg mypy run_mypy
  bg_wait apt || die "installing the system packages failed"
  bg_wait docker-plugins || die "installing the Docker CLI plugins failed"
  start_services
  local url; url=$(test_database_url)
  if [ -n "$url" ]; then export TEST_DATABASE_URL=$url; fi
  log "pytest"
  rm -f .coverage .coverage.*
  # pytest exits 5 when it collected no test: that is a failure here too.
  # --durations: the slowest tests in every CI log, the data for keeping the suite short.
  # -n: one worker per core (CO_TEST_WORKERS overrides); --dist loadgroup runs each group of
  # tests/conftest.py (tests/container with the Docker engine, every other module) on one worker.
  local rc=0
  python -m pytest -n "${CO_TEST_WORKERS:-auto}" --dist loadgroup --cov --cov-report=term \
    --durations=25 "$@" || rc=$?
  log "mypy --strict"
  bg_wait mypy || { [ "$rc" -ne 0 ] || rc=1; }
  return "$rc"
}

case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  test) shift; cmd_test "$@" ;;
  env) shift; cmd_env ;;
  *) die "usage: bash scripts/dev.sh build|test|env [args]" ;;
esac
