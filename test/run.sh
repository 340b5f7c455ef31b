#!/usr/bin/env bash
# The whole test suite on real parts, from a fresh Debian 12 machine, as root:
# installs what the tests need, starts libvirtd and RabbitMQ, builds, then runs the
# unit tests and the integration tests (a real TCG guest, a real broker, the real
# Python oslo.messaging client), and last the benchmarks' smoke mode, so the harness
# keeps working. Nothing is skipped: a missing part fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/prepare.sh --with-bench-tools
npm run typecheck  # tests and benchmarks too, under the same strict settings

# Each off-loop libvirt call holds a libuv pool thread; tests run several at once.
export UV_THREADPOOL_SIZE=16
npx vitest run --project unit
npx vitest run --project integration "$@"
node dist/bench/run.js --quick
