#!/usr/bin/env bash
# Runs a command confined the way deploy/virt-dr-agent.service confines the agent, for a
# host without systemd: a private mount namespace where / is read-only but for the given
# paths, a private /tmp, a umask, no new privileges and a capability bounding set.
#   confined.sh --rw PATH [--rw PATH]... [--keep PATH] --caps CAP[,CAP]... --umask MASK -- COMMAND...
# --keep names the program's own folder: it stays visible (read-only) even when it lies
# under /tmp, which the private /tmp would otherwise hide (a CI clone may live there;
# the unit's agent lives in /opt).
set -euo pipefail
rw=() caps='' mask='' keep=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --rw) rw+=("$2"); shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --caps) caps=$2; shift 2 ;;
    --umask) mask=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "confined.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n $caps && -n $mask && $# -gt 0 ]] || { echo "confined.sh: need --caps, --umask and a command" >&2; exit 2; }
bounding="-all"
for cap in ${caps//,/ }; do bounding+=",+${cap#CAP_}"; done
bounding=${bounding,,}
exec unshare -m --propagation private bash -c '
  set -e
  bounding=$1 mask=$2 keep=$3; shift 3
  while [[ $1 != -- ]]; do mkdir -p "$1"; mount --bind "$1" "$1"; shift; done; shift
  if [[ $keep == /tmp/* ]]; then
    parked=$(mktemp -d /dev/shm/vdr-confined-XXXXXX)
    mount --bind "$keep" "$parked"
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    mkdir -p "$keep"
    mount --move "$parked" "$keep"
    rmdir "$parked"
    mount -o remount,bind,ro "$keep"
  else
    mount -t tmpfs -o mode=1777 tmpfs /tmp
  fi
  mount -o remount,bind,ro /
  umask "$mask"
  exec setpriv --no-new-privs --bounding-set "$bounding" --inh-caps=-all "$@"
' confined "$bounding" "$mask" "$keep" "${rw[@]}" -- "$@"
