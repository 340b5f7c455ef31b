#!/usr/bin/env bash
# Build the virt-dr-agent test guest: a Debian kernel plus a tiny busybox
# initramfs that loads the virtio/ext4 modules, mounts the data disk (/dev/vda)
# at /data, starts qemu-guest-agent on the virtio-serial port and keeps
# appending to /data/heartbeat.
#
# Usage: test/guest/build-guest.sh [OUTDIR]
#   OUTDIR defaults to /var/lib/libvirt/images/virt-dr-test
# Produces OUTDIR/vmlinuz and OUTDIR/initramfs.img. Idempotent: rebuilds only if
# the stamp (kernel version, package versions, this script's hash) changed.
# Env: VDR_KERNEL_VERSION=<uname -r style> to pick a kernel (default: newest in
# /boot that has a /lib/modules tree); VDR_FORCE_REBUILD=1 to force a rebuild.
set -euo pipefail

OUTDIR="${1:-/var/lib/libvirt/images/virt-dr-test}"
SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"

log() { printf 'build-guest: %s\n' "$*" >&2; }
die() { printf 'build-guest: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- packages ---
need_pkgs=()
check_pkg() { # pkg
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$1")
}
for p in busybox-static qemu-guest-agent cpio gzip e2fsprogs kmod; do check_pkg "$p"; done
if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then need_pkgs+=(linux-image-amd64); fi
if ((${#need_pkgs[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing packages (${need_pkgs[*]}) and not root"
  log "installing: ${need_pkgs[*]}"
  # Wait for a concurrent apt/dpkg (e.g. a background install) to finish.
  for _ in $(seq 1 600); do
    if command -v fuser >/dev/null 2>&1; then
      fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1 || break
    else
      pgrep -x 'apt-get|apt|dpkg' >/dev/null 2>&1 || break
    fi
    sleep 1
  done
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need_pkgs[@]}" >&2 \
    || { apt-get -o DPkg::Lock::Timeout=600 update >&2 && \
         apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need_pkgs[@]}" >&2; }
fi

BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || BUSYBOX=/usr/bin/busybox
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || die "$BUSYBOX is not static (install busybox-static)"
QEMU_GA=/usr/sbin/qemu-ga
[[ -x $QEMU_GA ]] || die "$QEMU_GA missing"

# ------------------------------------------------------------------ kernel ---
if [[ -n ${VDR_KERNEL_VERSION:-} ]]; then
  KVER=$VDR_KERNEL_VERSION
else
  KVER=""
  while read -r k; do
    v=${k#/boot/vmlinuz-}
    [[ -d /lib/modules/$v/kernel ]] && KVER=$v
  done < <(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V)
fi
[[ -n $KVER ]] || die "no kernel found in /boot with matching /lib/modules"
KERNEL=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[[ -r $KERNEL ]] || die "$KERNEL not readable"

MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         virtio_blk virtio_console crc16 mbcache jbd2 crc32c_generic ext4)

# ------------------------------------------------------------------- stamp ---
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
STAMP="kernel=$KVER
kernel_sha=$(sha256sum "$KERNEL" | cut -d' ' -f1)
busybox=$(pkgver busybox-static)
qemu_ga=$(pkgver qemu-guest-agent)
libc=$(pkgver libc6)
glib=$(pkgver libglib2.0-0)
script=$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"

mkdir -p "$OUTDIR"
chmod 755 "$OUTDIR"
exec 9>"$OUTDIR/.build.lock"
flock 9   # serialise concurrent builders

if [[ -z ${VDR_FORCE_REBUILD:-} && -s $OUTDIR/vmlinuz && -s $OUTDIR/initramfs.img \
      && -f $OUTDIR/.stamp && "$(cat "$OUTDIR/.stamp")" == "$STAMP" ]]; then
  log "up to date ($OUTDIR, kernel $KVER)"
  exit 0
fi

log "building guest for kernel $KVER into $OUTDIR"
WORK=$(mktemp -d /tmp/vdr-guest-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,dev,proc,sys,run,tmp,data,etc,lib/modules,lib64,usr/bin,usr/sbin,var}
ln -s ../run "$ROOT/var/run"
chmod 1777 "$ROOT/tmp"

# busybox + applet symlinks
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox ]] && continue
  ln -sf busybox "$ROOT/bin/$applet"
done

# qemu-ga + its shared libraries and the dynamic loader
cp "$QEMU_GA" "$ROOT/usr/sbin/qemu-ga"
copy_lib() { # path
  local src=$1 real dst
  real=$(readlink -f "$src")
  dst=$ROOT$src
  mkdir -p "$(dirname "$dst")"
  [[ -e $dst ]] || cp "$real" "$dst"
}
while read -r line; do
  # forms: "libx.so => /path (0x..)", "/lib64/ld-linux-x86-64.so.2 (0x..)", "linux-vdso.so.1 (0x..)"
  if [[ $line =~ '=>'[[:space:]]+(/[^[:space:]]+) ]]; then
    copy_lib "${BASH_REMATCH[1]}"
  elif [[ $line =~ ^(/[^[:space:]]+) ]]; then
    copy_lib "${BASH_REMATCH[1]}"
  elif [[ $line == *'not found'* ]]; then
    die "qemu-ga library missing: $line"
  fi
done < <(ldd "$QEMU_GA")
[[ -e $ROOT/lib64/ld-linux-x86-64.so.2 ]] || die "dynamic loader not copied"
# Minimal identity files (glib looks up the user; harmless otherwise).
printf 'root:x:0:0:root:/:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
echo virt-dr-guest > "$ROOT/etc/hostname"

# kernel modules (decompressed; busybox insmod may not handle .xz/.zst)
for m in "${MODULES[@]}"; do
  f=$(find "$MODDIR" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n1)
  if [[ -z $f ]]; then
    if grep -q "/$m.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; then
      log "module $m is built in"; continue
    fi
    die "module $m not found under $MODDIR"
  fi
  case $f in
    *.ko.xz)  xz -dc "$f" > "$ROOT/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$ROOT/lib/modules/$m.ko" ;;
    *.ko.gz)  gzip -dc "$f" > "$ROOT/lib/modules/$m.ko" ;;
    *)        cp "$f" "$ROOT/lib/modules/$m.ko" ;;
  esac
done
printf '%s\n' "${MODULES[@]}" > "$ROOT/lib/modules/order"

# ------------------------------------------------------------------- /init ---
cat > "$ROOT/init" <<'INIT'
#!/bin/sh
# virt-dr-agent test guest init (busybox sh)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/
umask 022
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run
mount -t tmpfs -o mode=755 tmpfs /run 2>/dev/null || true

say() { echo "vdr-guest: $*" > /dev/console 2>/dev/null || echo "vdr-guest: $*"; }
fail() {
  say "FATAL: $*"
  echo "VIRT-DR-GUEST-FAILED: $*" > /dev/console
  # stay alive so the console log can be inspected
  while :; do sleep 3600; done
}

for m in $(cat /lib/modules/order); do
  [ -f /lib/modules/$m.ko ] || continue
  insmod /lib/modules/$m.ko || say "insmod $m failed"
done

NOAGENT=0
for w in $(cat /proc/cmdline); do
  [ "$w" = vdr.noagent ] && NOAGENT=1
done

# wait for the data disk
i=0
while [ ! -b /dev/vda ]; do
  i=$((i + 1)); [ $i -gt 300 ] && fail "/dev/vda did not appear"
  sleep 0.1
done
mkdir -p /data
mount -t ext4 /dev/vda /data || fail "mount /dev/vda on /data failed"

if [ $NOAGENT = 0 ]; then
  # find the agent port by its name (no udev => no /dev/virtio-ports links)
  port=""
  i=0
  while [ -z "$port" ]; do
    for n in /sys/class/virtio-ports/*/name; do
      [ -f "$n" ] || continue
      if [ "$(cat "$n")" = org.qemu.guest_agent.0 ]; then
        d=${n%/name}; port=/dev/${d##*/}
      fi
    done
    [ -n "$port" ] && [ -c "$port" ] && break
    port=""
    i=$((i + 1)); [ $i -gt 300 ] && fail "guest agent virtio port did not appear"
    sleep 0.1
  done
  /usr/sbin/qemu-ga -d -m virtio-serial -p "$port" -t /run -f /run/qemu-ga.pid \
    || fail "qemu-ga failed to start"
  i=0
  while [ ! -s /run/qemu-ga.pid ]; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "qemu-ga wrote no pid file"
    sleep 0.1
  done
  say "qemu-ga running pid $(cat /run/qemu-ga.pid) on $port"
else
  say "vdr.noagent: not starting qemu-ga"
fi

# heartbeat writer: proves the guest keeps running (and writing) across backups
(
  n=$(wc -l < /data/heartbeat 2>/dev/null || echo 0)
  while :; do
    n=$((n + 1))
    echo "$n $(date +%s) $(cut -d' ' -f1 /proc/uptime)" >> /data/heartbeat
    sync
    sleep 0.5
  done
) </dev/null >/dev/null 2>&1 &
echo $! > /run/heartbeat.pid

if [ $NOAGENT = 0 ]; then
  echo "VIRT-DR-GUEST-READY agent=1" > /dev/console
else
  echo "VIRT-DR-GUEST-READY agent=0" > /dev/console
fi

# PID 1 must never exit; also reap orphans.
while :; do
  wait
  sleep 3600
done
INIT
chmod 755 "$ROOT/init"

# ------------------------------------------------------------------ output ---
( cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --quiet --owner=0:0 ) \
  | gzip -9n > "$WORK/initramfs.img"
cp "$KERNEL" "$WORK/vmlinuz"
chmod 644 "$WORK/initramfs.img" "$WORK/vmlinuz"
mv -f "$WORK/vmlinuz" "$OUTDIR/vmlinuz"
mv -f "$WORK/initramfs.img" "$OUTDIR/initramfs.img"
printf '%s\n' "$STAMP" > "$OUTDIR/.stamp.new"
# compare against $STAMP (command substitution strips the trailing newline)
mv -f "$OUTDIR/.stamp.new" "$OUTDIR/.stamp"
log "done: $(du -h "$OUTDIR/initramfs.img" | cut -f1) initramfs, kernel $KVER"
