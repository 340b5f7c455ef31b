#!/usr/bin/env bash
# What the tests and the benchmarks both need on a fresh Debian 12 machine, as root:
# packages and running services (deploy/prepare-host.sh), node_modules, the build and
# the test guest's kernel and initramfs. Extra arguments go to prepare-host.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/prepare-host.sh --with-test-tools "$@"
if [[ ! -d node_modules/@2060.io/ffi-napi/build ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build
bash test/guest/build-guest.sh
