#!/usr/bin/env bash
# Create an ext4-formatted qcow2 data disk for the test guest.
# Usage: test/guest/make-data-disk.sh PATH SIZE_MIB [CONTENT_DIR]
#   CONTENT_DIR: files the new filesystem starts with (mkfs.ext4 -d), e.g. benchmark data.
set -euo pipefail
[[ $# -eq 2 || $# -eq 3 ]] || { echo "usage: $0 PATH SIZE_MIB [CONTENT_DIR]" >&2; exit 2; }
OUT=$1
SIZE=$2
CONTENT=${3:-}
[[ $SIZE =~ ^[0-9]+$ && $SIZE -ge 8 ]] || { echo "make-data-disk: SIZE_MIB must be an integer >= 8" >&2; exit 2; }
for c in mkfs.ext4 qemu-img truncate; do
  command -v "$c" >/dev/null || { echo "make-data-disk: $c not found (apt-get install e2fsprogs qemu-utils)" >&2; exit 1; }
done
mkdir -p "$(dirname "$OUT")"
RAW=$(mktemp "$(dirname "$OUT")/.vdr-data-XXXXXX.raw")
TMP="$OUT.tmp.$$"
trap 'rm -f "$RAW" "$TMP"' EXIT
truncate -s "${SIZE}M" "$RAW"
mkfs.ext4 -q -F -L vdr-data ${CONTENT:+-d "$CONTENT"} "$RAW"
qemu-img convert -f raw -O qcow2 "$RAW" "$TMP"
chmod 644 "$TMP"
mv -f "$TMP" "$OUT"
