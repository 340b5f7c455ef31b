#!/usr/bin/env bash
# Installs virt-dr's bash completion, as root: the bash-completion package when it is
# missing, and the script the CLI prints from its own command tree, so the two never
# drift. It goes to /etc/bash_completion.d/, which bash-completion reads when every
# interactive shell starts (the lazy /usr/share/... folder would show it only after a
# first TAB).
#   deploy/install-completion.sh /usr/local/bin/virt-dr
set -euo pipefail
cli=${1:?usage: install-completion.sh PATH-OF-virt-dr}
[[ -f /usr/share/bash-completion/bash_completion ]] || { apt-get update -qq && apt-get install -y -qq bash-completion; }
install -d -m 0755 /etc/bash_completion.d
staged=$(mktemp /etc/bash_completion.d/.virt-dr.XXXXXX)
trap 'rm -f "$staged"' EXIT
"$cli" completion bash > "$staged"
chmod 0644 "$staged"
mv "$staged" /etc/bash_completion.d/virt-dr
