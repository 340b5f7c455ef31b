/**
 * Full-backup throughput of a 1 GiB disk against `cp --sparse=always` of the same file,
 * measured in one run on one machine. The guest's ext4 data disk starts half full of
 * random data (mkfs.ext4 -d), so the qcow2 holds 512 MiB of incompressible clusters.
 *
 *   npm run build && node dist/bench/full-backup-vs-cp.js
 *
 * Prints one markdown table. The first backup of a domain copies the disk file as it is,
 * so this compares the agent's whole job (freeze, snapshot, copy, read-back verification,
 * manifest, publish) with a bare copy.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, statSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { AgentProcess } from '../test/support/agent-process.js';
import { buildGuestAssets, createTestGuest, destroyTestGuest, ensureLibvirtd, waitForAgent } from '../test/support/guest.js';
import { ensureRabbit } from '../test/support/rabbit.js';

const WORK = '/var/lib/libvirt/images/virt-dr-bench';
const GUEST = 'vdr-bench-full';
const RANDOM_MIB = 512;

function randomContent(dir: string): void {
  const file = path.join(dir, 'random.bin');
  if (existsSync(file) && statSync(file).size === RANDOM_MIB << 20) return;
  mkdirSync(dir, { recursive: true });
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4 << 20);
  for (let i = 0; i < RANDOM_MIB / 4; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
}

function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return (performance.now() - start) / 1000;
}

const content = path.join(WORK, 'content');
randomContent(content);
await Promise.all([ensureRabbit(), ensureLibvirtd()]);
await buildGuestAssets();
const guest = await createTestGuest({ name: GUEST, dataDiskMiB: 1024, dataDiskContent: content });
const agent = new AgentProcess('bench-full', path.join(WORK, 'agent'));
try {
  await waitForAgent(GUEST);
  await agent.reset();
  await agent.start();
  const client = await agent.client();
  const bytes = statSync(guest.dataDisk).size;

  // Two baselines: a bare cp, and cp followed by a flush to disk (the agent fsyncs).
  const cpTarget = path.join(WORK, 'cp-copy.qcow2');
  rmSync(cpTarget, { force: true });
  const cpSeconds = timed(() => execFileSync('cp', ['--sparse=always', guest.dataDisk, cpTarget]));
  rmSync(cpTarget, { force: true });
  const cpSyncSeconds = timed(() => {
    execFileSync('cp', ['--sparse=always', guest.dataDisk, cpTarget]);
    execFileSync('sync', ['-f', cpTarget]);
  });
  rmSync(cpTarget, { force: true });

  const job = await client.call<{ started_at: string; finished_at: string; result: { bytes: number; freeze_ms: number } }>(
    'backup',
    { domain: GUEST, wait: true },
    { timeoutMs: 600_000 },
  );
  const agentSeconds = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
  await client.close();

  const mibps = (s: number) => (bytes / (1 << 20) / s).toFixed(0);
  console.log(`| run | ${new Date().toISOString()} | ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB |`);
  console.log('| what | seconds | MiB/s | ratio to cp |');
  console.log('|---|---|---|---|');
  console.log(`| cp --sparse=always (${(bytes / 2 ** 20).toFixed(0)} MiB qcow2 of a 1 GiB disk) | ${cpSeconds.toFixed(2)} | ${mibps(cpSeconds)} | 1.00 |`);
  console.log(`| cp --sparse=always, then sync -f | ${cpSyncSeconds.toFixed(2)} | ${mibps(cpSyncSeconds)} | ${(cpSeconds / cpSyncSeconds).toFixed(2)} |`);
  console.log(`| virt-dr full backup job (copy, sha256, fsync, read-back check) | ${agentSeconds.toFixed(2)} | ${mibps(agentSeconds)} | ${(cpSeconds / agentSeconds).toFixed(2)} |`);
} finally {
  await agent.stop();
  await destroyTestGuest(GUEST);
  // VDR_BENCH_KEEP=1 keeps the agent's log and repository for a post-mortem.
  if (!process.env.VDR_BENCH_KEEP) rmSync(agent.workDir, { recursive: true, force: true });
}
