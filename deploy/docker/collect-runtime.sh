#!/usr/bin/env bash
# Lays out the runtime image's whole filesystem: the kiln binary, exactly the shared libraries it loads, uid 10001.
# Contract: collect-runtime.sh KILN_BINARY ROOTFS_DIR [EXTRA_LIB...]. Copies the binary to ROOTFS/usr/local/bin/kiln
# and every library `ldd` resolves for it (the real file under each path ldd prints, plus the dynamic loader) to the
# same path under ROOTFS; then each EXTRA_LIB (libraries loaded with dlopen, e.g. cuDNN's engine libraries) to its
# own path under ROOTFS. Writes /etc/passwd and /etc/group (kiln = 10001), empty /models and /tmp
# (mode 1777), and ROOTFS/usr/share/kiln/libraries.txt: each library with the Debian package and version it came from.
# Fails with one line when ldd reports a missing library. No shell, compiler or package manager is copied.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: collect-runtime.sh KILN_BINARY ROOTFS_DIR [EXTRA_LIB...]" >&2; exit 2; }
BIN=$1 ROOT=$2
shift 2
[ -x "$BIN" ] || { echo "collect-runtime.sh: error: $BIN is not an executable" >&2; exit 1; }
if ldd "$BIN" | grep -q "not found"; then
  echo "collect-runtime.sh: error: $BIN needs libraries that are missing: $(ldd "$BIN" | awk '/not found/{print $1}' | xargs)" >&2
  exit 1
fi
rm -rf "$ROOT"
mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc" "$ROOT/models" "$ROOT/tmp" "$ROOT/usr/share/kiln"
chmod 1777 "$ROOT/tmp"
cp "$BIN" "$ROOT/usr/local/bin/kiln"
strip --strip-unneeded "$ROOT/usr/local/bin/kiln" 2>/dev/null || true
# "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and the loader line "/lib64/ld-linux-x86-64.so.2 (0x...)".
mapfile -t libs < <(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
: >"$ROOT/usr/share/kiln/libraries.txt"
for lib in "${libs[@]}"; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1 || true)
  ver=$([ -n "$pkg" ] && dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo "not from a Debian package")
  echo "$lib ${pkg:-?} $ver" >>"$ROOT/usr/share/kiln/libraries.txt"
done
# /lib64 and /lib are symlinks in Debian (usrmerge): keep them so the loader path in the binary resolves.
for d in lib lib64; do
  if [ -L "/$d" ] && [ -d "$ROOT/$d" ] && [ ! -L "$ROOT/$d" ]; then
    mkdir -p "$ROOT/usr/$d" && cp -a "$ROOT/$d/." "$ROOT/usr/$d/" && rm -rf "${ROOT:?}/$d"
  fi
  [ -L "/$d" ] && [ ! -e "$ROOT/$d" ] && ln -s "usr/$d" "$ROOT/$d"
done
for extra in "$@"; do
  [ -f "$extra" ] || { echo "collect-runtime.sh: error: extra library $extra does not exist" >&2; exit 1; }
  mkdir -p "$ROOT$(dirname "$extra")"
  cp -L "$extra" "$ROOT$extra"
  echo "$extra (dlopen) $(dpkg -S "$(readlink -f "$extra")" 2>/dev/null | head -1 | cut -d: -f1 || echo -)" >>"$ROOT/usr/share/kiln/libraries.txt"
  # What the dlopen'ed library itself links (librt, libdl, ... for cuBLASLt), when the binary's own set lacks it.
  while read -r dep; do
    [ -e "$ROOT$dep" ] && continue
    mkdir -p "$ROOT$(dirname "$dep")"
    cp -L "$dep" "$ROOT$dep"
    echo "$dep (needed by $(basename "$extra"))" >>"$ROOT/usr/share/kiln/libraries.txt"
  done < <(ldd "$extra" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
done
printf 'root:x:0:0:root:/nonexistent:/nonexistent\nkiln:x:10001:10001:kiln:/nonexistent:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nkiln:x:10001:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
echo "collect-runtime.sh: $BIN + ${#libs[@]} libraries -> $ROOT ($(du -sh "$ROOT" | cut -f1))" >&2
