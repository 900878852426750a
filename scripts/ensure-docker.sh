#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine, for the integration tests.
#
# Idempotent: when `docker info` already works it does nothing. Otherwise it makes sure the docker
# CLI is there (enough when the engine runs elsewhere, e.g. a socket mounted into a container);
# then, when no engine answers, as root on Debian, it installs dockerd if missing and starts it in
# the background (these machines have no systemd), waiting a bounded time for the engine. Packages
# come from the one table of host tools (src/exec/host-tools.ts, through scripts/host-tools.ts,
# which installs only as root on Debian/Ubuntu and otherwise names the package). Anything else is a
# clear one-line error. Needs `npm ci` to have run (it uses the repository's tsx).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

LOG_FILE="${BACKDRILL_DOCKERD_LOG:-/var/log/backdrill-dockerd.log}"
WAIT_SECONDS="${BACKDRILL_DOCKERD_WAIT_SECONDS:-60}"

say() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

engine_up() { docker info >/dev/null 2>&1; }
# pid file rather than pgrep: procps is not on every minimal machine.
dockerd_running() { [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; }

# Installs a missing command (root on Debian/Ubuntu) or fails with the one line naming its package.
host_tools() {
  local tsx="$REPO/node_modules/.bin/tsx"
  [ -x "$tsx" ] || die "$tsx is missing: run npm ci in $REPO first"
  "$tsx" "$REPO/scripts/host-tools.ts" "$@" || exit 1
}

if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0
fi

command -v docker >/dev/null 2>&1 || host_tools docker
if engine_up; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  die "Docker engine is not reachable (docker info failed) and we are not root, so we cannot start it: start dockerd, or give this user access to /var/run/docker.sock, and retry"
fi
if [ ! -r /etc/debian_version ]; then
  die "Docker engine is not reachable and this is not Debian; install and start Docker yourself"
fi

command -v dockerd >/dev/null 2>&1 || host_tools dockerd

# A dockerd may already be starting (another run got here first): only start one if none runs.
if ! dockerd_running; then
  say "starting dockerd (log: $LOG_FILE)"
  mkdir -p "$(dirname "$LOG_FILE")"
  # setsid + nohup: the daemon must outlive this script and the CI step that ran it.
  setsid nohup dockerd >>"$LOG_FILE" 2>&1 </dev/null &
fi

deadline=$((SECONDS + WAIT_SECONDS))
until engine_up; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "dockerd did not answer within ${WAIT_SECONDS}s"
  fi
  sleep 1
done
say "Docker engine is up ($(docker info --format '{{.ServerVersion}}'))"
