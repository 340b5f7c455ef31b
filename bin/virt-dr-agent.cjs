#!/usr/bin/env node
'use strict';
// Every off-loop libvirt call holds a libuv pool thread until libvirt returns, and the
// pool also serves fs and crypto. libuv reads UV_THREADPOOL_SIZE once, when the pool
// first starts. This entry is CommonJS on purpose: Node loads an ES module entry through
// its asynchronous loader, which starts the pool (at its default size of 4) before the
// module's first line runs; a CommonJS entry is read synchronously, so the size set here
// still counts. 4 threads per concurrent job, at least 16.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(16, 4 * Number(process.env.VIRT_DR_JOBS_CONCURRENCY ?? 2) + 4));

import('../dist/src/main.js')
  .then(({ main }) => main(process.argv.slice(2)))
  .then((code) => {
    if (code >= 0) process.exit(code);
  })
  .catch((err) => {
    process.stderr.write(`virt-dr-agent: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
