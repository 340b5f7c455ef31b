#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine, as root:
#   installs what is missing, starts libvirtd and RabbitMQ, builds, starts the agent,
#   boots a small demo guest that carries Nova's metadata, backs it up over the bus with
#   the CLI (a full, then an incremental after the guest wrote 16 MiB), restarts it the
#   way Nova does, shows that nothing was lost, and backs it up once more.
#   bash deploy/demo.sh            run the demo (the agent and guest stay up afterwards)
#   bash deploy/demo.sh --cleanup  stop the demo agent, remove the guest and demo data
set -euo pipefail
cd "$(dirname "$0")/.."

GUEST=virt-dr-demo
DEMO_DIR=/var/lib/virt-dr-demo
PIDFILE=$DEMO_DIR/agent.pid
export VIRT_DR_REPO_PATH=$DEMO_DIR/repo VIRT_DR_STATE_PATH=$DEMO_DIR/state VIRT_DR_HOST=demo-host
export VIRT_DR_BUS_TOPIC=virt_dr_demo

stop_agent() {
  if [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$PIDFILE"
}

if [[ ${1:-} == --cleanup ]]; then
  stop_agent
  node dist/deploy/demo-guest.js down "$GUEST" || true
  rm -rf "$DEMO_DIR"
  exit 0
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "host: packages, libvirtd, RabbitMQ"
bash deploy/prepare-host.sh --with-test-tools
step "build"
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
bash test/guest/build-guest.sh

step "agent"
stop_agent
mkdir -p "$DEMO_DIR"
node bin/virt-dr-agent.cjs >"$DEMO_DIR/agent.log" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 60); do node bin/virt-dr.js ping >/dev/null 2>&1 && break; sleep 0.5; done
node bin/virt-dr.js ping

step "guest"
node dist/deploy/demo-guest.js up "$GUEST"

step "full backup over the bus"
node bin/virt-dr.js backup "$GUEST" --wait

step "the guest writes 16 MiB, then an incremental backup"
node dist/deploy/demo-guest.js write "$GUEST"
node bin/virt-dr.js backup "$GUEST" --wait

step "Nova restarts the domain: destroy, plain undefine, define from its own XML, start"
node dist/deploy/demo-guest.js restart "$GUEST"
echo "libvirt checkpoints left on the domain: $(virsh -c qemu:///system checkpoint-list "$GUEST" --name | grep -c . || true)"
step "the next backup is still an incremental"
node bin/virt-dr.js backup "$GUEST" --wait

step "the repository"
node bin/virt-dr.js ls "$GUEST"
uuid=$(virsh -c qemu:///system domuuid "$GUEST" | tr -d '[:space:]')
latest=$(ls -1 "$VIRT_DR_REPO_PATH/$uuid" | grep -v '^\.' | sort | tail -n 1)
qemu-img info -f qcow2 --backing-chain "$VIRT_DR_REPO_PATH/$uuid/$latest/vda.qcow2" | grep -E '^(image|backing file|disk size|virtual size)'
step "the host's disk: still the one its owner created, with no checkpoint metadata"
virsh -c qemu:///system domblklist "$GUEST"
echo "libvirt checkpoints: $(virsh -c qemu:///system checkpoint-list "$GUEST" --name | grep -c . || true)"
printf '\nThe agent (log: %s) and the guest keep running. Remove them with: bash deploy/demo.sh --cleanup\n' "$DEMO_DIR/agent.log"
