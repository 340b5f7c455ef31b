#!/usr/bin/env bash
# Installs virt-dr-agent on a Debian 12 compute host, as root, from this checkout:
#   /opt/virt-dr-agent           the built agent and its production dependencies
#   /etc/virt-dr/agent.json      the configuration (kept if it exists; mode 0640)
#   /etc/systemd/system/virt-dr-agent.service
#   /usr/local/bin/virt-dr       the operator's CLI, with its bash completion
# Then enables and starts the service when systemd runs.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root" >&2; exit 1; }

prefix=/opt/virt-dr-agent
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
npm ci --no-audit --no-fund
npm run build
install -d "$prefix"
cp -a package.json package-lock.json bin dist "$prefix/"
(cd "$prefix" && npm ci --omit=dev --no-audit --no-fund)

install -d -m 0750 /etc/virt-dr /var/lib/virt-dr
if [[ ! -f /etc/virt-dr/agent.json ]]; then
  install -m 0640 deploy/agent.sample.json /etc/virt-dr/agent.json
  sed -i "s/\"compute-01\"/\"$(hostname)\"/" /etc/virt-dr/agent.json
  echo "install.sh: wrote /etc/virt-dr/agent.json; set bus.url before starting" >&2
fi
install -m 0644 deploy/virt-dr-agent.service /etc/systemd/system/virt-dr-agent.service
ln -sf "$prefix/bin/virt-dr.js" /usr/local/bin/virt-dr
bash deploy/install-completion.sh /usr/local/bin/virt-dr
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl enable --now virt-dr-agent.service
  systemctl --no-pager status virt-dr-agent.service || true
else
  echo "install.sh: no systemd here; start with: node $prefix/bin/virt-dr-agent.cjs --config /etc/virt-dr/agent.json" >&2
fi
