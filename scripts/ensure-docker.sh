#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine, for the integration tests.
#
# Idempotent: when `docker info` already works it does nothing. Otherwise, as root on Debian, it
# installs docker.io if dockerd is missing and starts dockerd in the background (these machines
# have no systemd), then waits a bounded time for the engine. Anything else is a clear error.
set -euo pipefail

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

if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  die "Docker engine is not reachable and we are not root, so we cannot start it. Start dockerd (or give this user access to /var/run/docker.sock) and retry."
fi
if [ ! -r /etc/debian_version ]; then
  die "Docker engine is not reachable and this is not Debian; install and start Docker yourself."
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  say "installing docker.io (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

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
