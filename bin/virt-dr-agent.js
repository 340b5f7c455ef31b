#!/usr/bin/env node
// Every off-loop libvirt call holds a libuv pool thread until libvirt returns, and the
// pool also serves fs and crypto. libuv reads this once, at the pool's first use, so it
// is set here before anything else loads. 4 threads per concurrent job, at least 16.
process.env.UV_THREADPOOL_SIZE ??= String(
  Math.max(16, 4 * Number(process.env.VIRT_DR_JOBS_CONCURRENCY ?? 2) + 4),
);
const { main } = await import('../dist/src/main.js');
const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
