#!/usr/bin/env bash
# `npm run bench [-- --quick]`: prepares the host as the tests do (packages, services,
# build, test guest), then runs the harness. See bench/run.ts for what it measures.
set -euo pipefail
cd "$(dirname "$0")/.."

bash test/prepare.sh --with-bench-tools
# The agent's libvirt calls each hold a libuv pool thread while they wait.
export UV_THREADPOOL_SIZE=16
exec node dist/bench/run.js "$@"
