#!/usr/bin/env bash
# Makes the pinned Debian bookworm minbase image that every Kiln image starts from, without a registry.
# Contract: `bash deploy/docker/base.sh` (root, DOCKER_HOST set by dockerd.sh) leaves the image kiln-base:bookworm in the
# daemon and prints its image id. The rootfs tarball is cached in KILN_DOCKER_CACHE (default ~/.cache/kiln-docker)
# with its sha256 and package list (dpkg-query); re-runs import the cached tarball (~2 s) instead of debootstrapping
# (~50 s). The package list is compared with deploy/docker/bookworm-minbase.lock, the committed pin: a difference
# (a Debian point release) is printed, and fails the build when KILN_STRICT_PIN=1. KILN_UPDATE_PIN=1 rewrites the lock.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${KILN_DOCKER_CACHE:-$HOME/.cache/kiln-docker}
DOCKER=${KILN_DOCKER:-/usr/bin/docker}
SUITE=bookworm
TAR=$CACHE/$SUITE-minbase.tar
LOCK=$HERE/$SUITE-minbase.lock
mkdir -p "$CACHE"
if [ ! -s "$TAR" ]; then
  command -v debootstrap >/dev/null || { echo "base.sh: error: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
  MIRROR=${KILN_DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "base.sh: debootstrap --variant=minbase $SUITE from $MIRROR" >&2
  debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { echo "base.sh: error: debootstrap failed; see $CACHE/debootstrap.log" >&2; tail -5 "$CACHE/debootstrap.log" >&2; exit 1; }
  chroot "$work/rootfs" dpkg-query -W -f='${Package}=${Version}\n' | sort >"$CACHE/$SUITE-minbase.packages"
  rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*.bin "$work/rootfs"/var/log/*.log
  # Fixed owners and a fixed order: the tarball differs between runs only where the packages' files do.
  tar --numeric-owner --sort=name -C "$work/rootfs" -cf "$TAR.tmp" .
  mv "$TAR.tmp" "$TAR"
  sha256sum "$TAR" | cut -d' ' -f1 >"$TAR.sha256"
fi
if [ -f "$LOCK" ] && ! diff -q <(grep -v '^#' "$LOCK") "$CACHE/$SUITE-minbase.packages" >/dev/null; then
  echo "base.sh: warning: the cached rootfs differs from the pin $LOCK:" >&2
  diff <(grep -v '^#' "$LOCK") "$CACHE/$SUITE-minbase.packages" | grep '^[<>]' | head -20 >&2 || true
  [ "${KILN_STRICT_PIN:-0}" = 1 ] && { echo "base.sh: error: KILN_STRICT_PIN=1 and the pin differs" >&2; exit 1; }
fi
if [ ! -f "$LOCK" ] || [ "${KILN_UPDATE_PIN:-0}" = 1 ]; then
  { echo "# Debian $SUITE minbase packages of kiln-base:$SUITE (deploy/docker/base.sh); rootfs tar sha256 $(cat "$TAR.sha256")"
    cat "$CACHE/$SUITE-minbase.packages"; } >"$LOCK"
fi
want=$(cat "$TAR.sha256")
have=$("$DOCKER" image inspect -f '{{index .Config.Labels "org.kiln.rootfs.sha256"}}' kiln-base:$SUITE 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  "$DOCKER" import --change "LABEL org.kiln.rootfs.sha256=$want" --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$TAR" kiln-base:$SUITE >/dev/null
fi
"$DOCKER" image inspect -f '{{.Id}}' kiln-base:$SUITE
