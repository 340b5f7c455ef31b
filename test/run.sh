#!/usr/bin/env bash
# The whole test suite on real parts, from a fresh Debian 12 machine, as root:
# installs what the tests need, starts libvirtd and RabbitMQ, builds, then runs the
# unit tests and the integration tests (a real TCG guest, a real broker, the real
# Python oslo.messaging client). Nothing is skipped: a missing part fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/prepare-host.sh --with-test-tools
if [[ ! -d node_modules/@2060.io/ffi-napi/build ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run build
npm run typecheck  # tests and benchmarks too, under the same strict settings
bash test/guest/build-guest.sh

# Each off-loop libvirt call holds a libuv pool thread; tests run several at once.
export UV_THREADPOOL_SIZE=16
npx vitest run --project unit
npx vitest run --project integration "$@"
