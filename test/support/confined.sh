#!/usr/bin/env bash
# Runs a command confined the way deploy/virt-dr-agent.service confines the agent, for a
# host without systemd: a private mount namespace where / is read-only but for the given
# paths, a private /tmp, a umask, no new privileges and a capability bounding set.
#   confined.sh --rw PATH [--rw PATH]... --caps CAP[,CAP]... --umask MASK -- COMMAND...
set -euo pipefail
rw=() caps='' mask=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --rw) rw+=("$2"); shift 2 ;;
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
  bounding=$1 mask=$2; shift 2
  while [[ $1 != -- ]]; do mkdir -p "$1"; mount --bind "$1" "$1"; shift; done; shift
  mount -t tmpfs -o mode=1777 tmpfs /tmp
  mount -o remount,bind,ro /
  umask "$mask"
  exec setpriv --no-new-privs --bounding-set "$bounding" --inh-caps=-all "$@"
' confined "$bounding" "$mask" "${rw[@]}" -- "$@"
