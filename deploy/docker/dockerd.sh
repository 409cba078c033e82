#!/usr/bin/env bash
# Starts (or reuses) a private Debian dockerd that leaves the host network alone; prints the DOCKER_HOST to use.
# Contract: `eval "$(bash deploy/docker/dockerd.sh start)"` exports DOCKER_HOST, KILN_DOCKER (the Debian docker CLI) and
# KILN_DOCKERD_STARTED (1 when this call started the daemon, 0 when one was running);
# `bash deploy/docker/dockerd.sh stop` stops the daemon this script started. Needs root. Data root KILN_DOCKER_ROOT
# (default /var/lib/kiln-docker); every container gets only `lo` (--bridge=none), no iptables rules are written.
set -euo pipefail
ROOT=${KILN_DOCKER_ROOT:-/var/lib/kiln-docker}
RUN=${KILN_DOCKER_RUN:-/run/kiln-docker}
SOCK=$RUN/docker.sock
CLI=/usr/bin/docker   # Debian's docker.io CLI (another docker may come first in PATH)
case "${1:-start}" in
start)
  [ "$(id -u)" = 0 ] || { echo "dockerd.sh: error: needs root (dockerd runs as root)" >&2; exit 1; }
  [ -x /usr/sbin/dockerd ] || { echo "dockerd.sh: error: /usr/sbin/dockerd missing (apt-get install docker.io)" >&2; exit 1; }
  mkdir -p "$ROOT" "$RUN"
  if ! DOCKER_HOST=unix://$SOCK "$CLI" version >/dev/null 2>&1; then
    nohup /usr/sbin/dockerd --data-root "$ROOT/data" --exec-root "$RUN/exec" -H "unix://$SOCK" -p "$RUN/dockerd.pid" \
      --iptables=false --ip-masq=false --bridge=none >"$ROOT/dockerd.log" 2>&1 &
    started=1
    for _ in $(seq 1 100); do
      DOCKER_HOST=unix://$SOCK "$CLI" version >/dev/null 2>&1 && break
      sleep 0.2
    done
    DOCKER_HOST=unix://$SOCK "$CLI" version >/dev/null 2>&1 ||
      { echo "dockerd.sh: error: dockerd did not start; see $ROOT/dockerd.log" >&2; tail -5 "$ROOT/dockerd.log" >&2; exit 1; }
  fi
  echo "export DOCKER_HOST=unix://$SOCK KILN_DOCKER=$CLI KILN_DOCKERD_STARTED=${started:-0}"
  ;;
stop)
  if [ -f "$RUN/dockerd.pid" ]; then
    pid=$(cat "$RUN/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  ;;
*) echo "dockerd.sh: error: unknown action '$1' (expected start or stop)" >&2; exit 2 ;;
esac
