#!/bin/bash
# A throwaway single-node Ceph (mon, mgr, one bluestore OSD on a sparse file, radosgw on
# 127.0.0.1) whose whole state lives under one folder: the S3 target's test cluster.
#
#   ceph.sh start DIR        fresh cluster; prints {"endpoint","access_key","secret_key"}
#   ceph.sh stop DIR         kills the daemons started from DIR, removes DIR
#   ceph.sh kill-rgw DIR     SIGKILLs radosgw only (the fault test's crash)
#   ceph.sh start-rgw DIR    starts radosgw again, waits for HTTP, prints the same JSON
#   ceph.sh restart-rgw DIR  kill-rgw then start-rgw
#
# Runs as root without systemd, from Debian's ceph-mon ceph-mgr ceph-osd radosgw (16.2).
# Every daemon gets -c DIR/ceph.conf, and every path it writes (data, sockets, logs, crash
# dumps) points under DIR; the monitor and radosgw take free ports. So two clusters under
# two folders never collide, and `stop` recognises its daemons by DIR/ceph.conf in their
# command line: it never signals a process it did not start, even for a stale pid file.
# Logs go to stderr; stdout carries only the JSON.
set -euo pipefail

readonly MARKER=.virt-dr-ceph          # proves DIR is ours before anything is removed
readonly OSD_SIZE=${CEPH_OSD_SIZE:-8G} # sparse: only what is written takes disk space
readonly S3_UID=virt-dr-test
readonly RGW_NAME=client.rgw.a

log() { printf '%s ceph.sh: %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

elapsed() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$EPOCHREALTIME"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Pids of running processes whose command line names this DIR's ceph.conf.
our_pids() {
  local conf=$1 p arg
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] || continue
    while IFS= read -r -d '' arg; do
      if [[ $arg == "$conf" ]]; then echo "${p#/proc/}"; break; fi
    done <"$p/cmdline" 2>/dev/null || true
  done
}

is_ours() { # PID CONF
  local arg
  [[ -r /proc/$1/cmdline ]] || return 1
  while IFS= read -r -d '' arg; do [[ $arg == "$2" ]] && return 0; done <"/proc/$1/cmdline" 2>/dev/null
  return 1
}

# Signals PIDS (only those still ours) and waits up to 10 s, then SIGKILLs what is left.
kill_ours() { # CONF SIGNAL PID...
  local conf=$1 sig=$2; shift 2
  local pid live=() i
  for pid in "$@"; do is_ours "$pid" "$conf" && live+=("$pid"); done
  ((${#live[@]})) || return 0
  log "kill -$sig ${live[*]}"
  kill "-$sig" "${live[@]}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    local still=()
    for pid in "${live[@]}"; do is_ours "$pid" "$conf" && still+=("$pid"); done
    ((${#still[@]})) || return 0
    sleep 0.1
  done
  log "kill -KILL ${still[*]}"
  kill -KILL "${still[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    local left=0
    for pid in "${still[@]}"; do is_ours "$pid" "$conf" && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  die "daemons ${still[*]} did not exit"
}

# Starts one daemon in the foreground mode (-f) detached from the caller: its own session,
# no inherited stdio (a caller reading our stdout to EOF must not wait for the daemon).
spawn() { # NAME CMD...
  local name=$1; shift
  setsid "$@" </dev/null >>"$D/log/$name.out" 2>&1 &
  echo $! >"$D/pids/$name.pid"
  log "started $name (pid $!)"
}

ceph_cli() { ceph -c "$D/ceph.conf" --connect-timeout 10 "$@"; }

wait_for() { # SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
  log "$what: ready"
}

osd_up() { [[ $(ceph_cli osd dump --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["osds"][0]["up"])') == 1 ]]; }
rgw_answers() { curl -fsS -o /dev/null --max-time 2 "$(state endpoint)/"; }

state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$D/state.json" "$1"; }

set_dir() {
  [[ -n ${1:-} ]] || die "usage: ceph.sh start|stop|kill-rgw|start-rgw|restart-rgw DIR"
  D=$(realpath -m -- "$1")
  [[ $D != / ]] || die "refusing DIR /"
}

cmd_stop() {
  local conf=$D/ceph.conf pids=() f
  if [[ -e $D && ! -e $D/$MARKER ]]; then
    [[ -z $(ls -A -- "$D") ]] || die "$D exists and is not a ceph.sh folder; not touching it"
  fi
  # Pid files first, then any process still naming this conf (a run killed before it wrote
  # its pid file); both are filtered through is_ours, so a recycled pid is left alone.
  if [[ -d $D/pids ]]; then
    for f in "$D"/pids/*.pid; do [[ -e $f ]] && pids+=("$(<"$f")"); done
  fi
  mapfile -t -O "${#pids[@]}" pids < <(our_pids "$conf")
  ((${#pids[@]})) && mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
  # SIGKILL: the state is thrown away next, and SIGTERM costs about 5 s (a daemon's shutdown).
  ((${#pids[@]})) && kill_ours "$conf" KILL "${pids[@]}"
  rm -rf -- "$D"
  log "stopped and removed $D"
}

write_conf() { # FSID MON_PORT RGW_PORT
  cat >"$D/ceph.conf" <<CONF
[global]
fsid = $1
mon_host = [v2:127.0.0.1:$2]
public_network = 127.0.0.0/8
ms_bind_msgr1 = false
# No cephx: a loopback cluster for tests (daemons and clients need no keyrings).
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# One OSD: one copy, small placement groups, no warnings about either.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
# Every path under DIR.
run_dir = $D/run
crash_dir = $D/crash
log_file = $D/log/\$name.log
mon_data = $D/mon/\$id
mgr_data = $D/mgr/\$id
osd_data = $D/osd/\$id
rgw_data = $D/rgw/\$id
keyring = $D/keyring
[mon]
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[osd]
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $(numfmt --from=iec "$OSD_SIZE")
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
[$RGW_NAME]
# radosgw defaults its monitor connection to msgr2 "secure" mode, which needs cephx: with
# auth none it would fail every attempt with -13 (EACCES) and never answer HTTP.
ms_mon_client_mode = crc
rgw_frontends = beast endpoint=127.0.0.1:$3
rgw_enable_usage_log = false
CONF
}

start_rgw() {
  spawn rgw radosgw -f -c "$D/ceph.conf" -n "$RGW_NAME"
  wait_for 120 "radosgw on $(state endpoint)" rgw_answers
}

print_keys() {
  python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); print(json.dumps({k: s[k] for k in ("endpoint", "access_key", "secret_key")}))' "$D/state.json"
}

cmd_start() {
  local t0=$EPOCHREALTIME fsid mon_port rgw_port osd_uuid
  cmd_stop
  mkdir -p -- "$D"/{run,crash,log,pids,mon/a,mgr/x,osd/0,rgw/rgw.a}
  touch "$D/$MARKER"
  fsid=$(</proc/sys/kernel/random/uuid)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  while [[ $rgw_port == "$mon_port" ]]; do rgw_port=$(free_port); done
  write_conf "$fsid" "$mon_port" "$rgw_port"
  printf '{"endpoint":"http://127.0.0.1:%s","mon_port":%s}\n' "$rgw_port" "$mon_port" >"$D/state.json"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$D/monmap" >&2
  ceph-mon -c "$D/ceph.conf" --mkfs -i a --monmap "$D/monmap" >&2
  spawn mon ceph-mon -f -c "$D/ceph.conf" -i a
  wait_for 60 "monitor on port $mon_port" ceph_cli mon stat
  spawn mgr ceph-mgr -f -c "$D/ceph.conf" -i x

  osd_uuid=$(</proc/sys/kernel/random/uuid)
  [[ $(ceph_cli osd new "$osd_uuid") == 0 ]] || die "ceph osd new did not give id 0"
  ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$D/log/osd-mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs failed: see $D/log/osd-mkfs.out"
  spawn osd ceph-osd -f -c "$D/ceph.conf" -i 0
  wait_for 120 "osd.0 up" osd_up

  start_rgw
  log "radosgw answers after $(elapsed "$t0") s"
  radosgw-admin -c "$D/ceph.conf" user create --uid "$S3_UID" --display-name "virt-dr test" >"$D/user.json"
  python3 - "$D/state.json" "$D/user.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
key = json.load(open(sys.argv[2]))["keys"][0]
state.update(access_key=key["access_key"], secret_key=key["secret_key"])
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(state, f)
PY
  mv -- "$D/state.json.tmp" "$D/state.json"
  log "keys ready after $(elapsed "$t0") s"
  print_keys
}

kill_rgw() {
  local f=$D/pids/rgw.pid
  [[ -e $f ]] || return 0
  kill_ours "$D/ceph.conf" KILL "$(<"$f")"
  rm -f -- "$f"
}

require_cluster() { [[ -e $D/$MARKER && -e $D/state.json ]] || die "$D holds no cluster started by ceph.sh"; }

main() {
  local cmd=${1:-}
  set_dir "${2:-}"
  case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    kill-rgw) require_cluster; kill_rgw ;;
    start-rgw) require_cluster; start_rgw; print_keys ;;
    restart-rgw) require_cluster; kill_rgw; start_rgw; print_keys ;;
    *) die "unknown command '$cmd'" ;;
  esac
}

main "$@"
