#!/usr/bin/env bash
# Makes a Debian 12 host ready for virt-dr-agent, as root: installs what is missing
# (apt), then starts virtlogd, libvirtd and RabbitMQ if they are not answering.
# Idempotent; safe to run on every test run. Works with or without systemd.
#   --with-test-tools   also the test guest's parts, the real oslo.messaging client, OpenSSH (the SSH target's sshd)
#                       and Ceph's mon, mgr, OSD and radosgw (the S3 target's single-node Ceph, test/support/ceph.sh)
#                       and Prometheus (runs the Grafana dashboard's queries; the test starts its own on a loopback port)
#                       and bash-completion (the CLI's completion test)
#   --with-bench-tools  also gnuplot, which draws the benchmarks' plot, and openssl (a baseline of the prune suite)
set -euo pipefail

log() { printf 'prepare-host: %s\n' "$*" >&2; }
[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }

packages=(libvirt-daemon-system libvirt-clients libvirt0 qemu-system-x86 qemu-utils rabbitmq-server ca-certificates acl)
for flag in "$@"; do
  case $flag in
    --with-test-tools) packages+=(linux-image-amd64 busybox-static qemu-guest-agent python3-oslo.messaging e2fsprogs cpio kmod systemd openssh-server openssh-client ceph-mon ceph-mgr ceph-osd radosgw curl prometheus bash-completion) ;;
    --with-bench-tools) packages+=(gnuplot-nox openssl) ;;
    *) log "unknown option: $flag"; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

have_systemd() { [[ -d /run/systemd/system ]]; }

if ! virsh -c qemu:///system uri >/dev/null 2>&1; then
  log "starting libvirtd"
  if have_systemd; then
    systemctl start virtlogd libvirtd
  else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
  fi
  for _ in $(seq 1 60); do virsh -c qemu:///system uri >/dev/null 2>&1 && break; sleep 0.5; done
  virsh -c qemu:///system uri >/dev/null || { log "libvirtd does not answer"; exit 1; }
fi

if ! rabbitmqctl -q status >/dev/null 2>&1; then
  log "starting RabbitMQ"
  if have_systemd; then systemctl start rabbitmq-server; else rabbitmq-server -detached; fi
  for _ in $(seq 1 120); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
  rabbitmqctl -q status >/dev/null || { log "RabbitMQ does not answer"; exit 1; }
  # status answers before the AMQP listener is up; wait for the port too.
  for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 0.5; done
fi
log "ready: libvirt $(virsh -c qemu:///system version --daemon 2>/dev/null | awk '/daemon/ {print $NF}'), RabbitMQ up"
