/**
 * The benchmark harness: `npm run bench` (the full plan) or `npm run bench -- --quick`
 * (every path at toy sizes, a few minutes; CI runs it); `--only SUITE[,SUITE]` runs only
 * those suites. It sets up its own guests, agent and disks under
 * /var/lib/libvirt/images/virt-dr-bench, measures each figure next to its baseline in the
 * same run, and writes bench/results/latest.md and latest.png (quick.* for --quick, and
 * the suites' names, e.g. restore.*, for --only, so neither a smoke run nor a partial one
 * replaces the last whole figures). VDR_BENCH_KEEP=1 keeps the work folder and the
 * agent's log for a post-mortem.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EngineName } from '../src/repo/point.js';
import { VERSION } from '../src/version.js';
import { AgentProcess } from '../test/support/agent-process.js';
import { buildGuestAssets, createTestGuest, destroyTestGuest, ensureLibvirtd, virsh, waitForAgent } from '../test/support/guest.js';
import { projectRoot } from '../test/support/project-root.js';
import { ensureRabbit } from '../test/support/rabbit.js';
import { BENCH_DOMAIN_PREFIX, type BenchContext } from './context.js';
import { collectMachineFacts } from './machine.js';
import type { BenchReport, SuiteResult } from './model.js';
import { parseBenchArgs, type SuiteName } from './args.js';
import { renderMarkdown } from './report/markdown.js';
import { renderPlot } from './report/plot.js';
import { runBusCost } from './suites/bus-cost.js';
import { runDrSuite } from './suites/dr.js';
import { runFreezeWindow } from './suites/freeze-window.js';
import { runFullBackup } from './suites/full-backup.js';
import { runIncremental } from './suites/incremental.js';
import { runPruneSuite } from './suites/prune.js';
import { runRestoreSuite } from './suites/restore.js';
import { runS3Suite } from './suites/s3.js';

const WORK_DIR = '/var/lib/libvirt/images/virt-dr-bench';
const ENGINES: readonly EngineName[] = ['snapshot', 'checkpoint'];
const RESULTS_DIR = path.join(projectRoot(import.meta.url), 'bench', 'results');

async function main(): Promise<void> {
  const { plan, suites, stem, command } = parseBenchArgs(process.argv.slice(2));
  const wants = (suite: SuiteName) => suites.includes(suite);
  const started = performance.now();
  const progress = (message: string) => console.log(`bench [${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

  await Promise.all([ensureRabbit(), ensureLibvirtd()]);
  await removeLeftoverDomains();
  await rm(WORK_DIR, { recursive: true, force: true });
  // libvirt's qemu user must reach the overlays virsh and the agent create here.
  await mkdir(WORK_DIR, { recursive: true, mode: 0o755 });
  const assets = await buildGuestAssets();

  const agent = new AgentProcess('bench', path.join(WORK_DIR, 'agent'), {
    // Production's log level: debug lines would add to the CPU time measured per GiB.
    VIRT_DR_LOG_LEVEL: 'info',
    // The bench guests ignore ACPI: a restore forces them off at once (the hand-run
    // baseline's `virsh destroy` does the same), rather than after a grace period.
    VIRT_DR_RESTORE_SHUTDOWN_GRACE_S: '0',
    // Unthrottled, the default, said here since the restore suite measures the copy.
    VIRT_DR_RESTORE_INSTANT_BANDWIDTH_MIB_S: '0',
  });
  const guestOf = (engine: EngineName) => {
    const name = `${BENCH_DOMAIN_PREFIX}incremental-${engine}`;
    return { name, workDir: path.join(WORK_DIR, 'guests', name) };
  };
  const results: SuiteResult[] = [];
  try {
    await agent.reset();
    await agent.start();
    const agentPid = agent.child?.pid;
    if (agentPid === undefined) throw new Error('the agent has no pid');
    const client = await agent.client();
    const ctx: BenchContext = { plan, workDir: WORK_DIR, assets, agent, agentPid, client, progress };
    try {
      // One fresh guest per engine, so neither inherits the other's chain.
      for (const engine of wants('freeze-window') ? ENGINES : []) {
        progress(`booting a guest with a ${plan.incrementalDiskMiB} MiB data disk for the ${engine} engine`);
        const guest = await createTestGuest({ ...guestOf(engine), dataDiskMiB: plan.incrementalDiskMiB, assets });
        await waitForAgent(guest.name);
        results.push(await runFreezeWindow(ctx, guest, engine));
        if (wants('incremental')) results.push(await runIncremental(ctx, guest, engine));
        await destroyTestGuest(guest.name, { workDir: guest.workDir });
      }
      if (wants('bus-cost')) results.push(await runBusCost(ctx));
      if (wants('restore')) results.push(await runRestoreSuite(ctx));
      if (wants('dr')) results.push(await runDrSuite(ctx));
      if (wants('prune')) results.push(await runPruneSuite(ctx));
      if (wants('s3')) results.push(await runS3Suite(ctx));
      // Last, so the agent's peak RSS it reports covers the whole run.
      if (wants('full-backup')) results.push(await runFullBackup(ctx));
    } finally {
      await client.close();
    }
  } finally {
    await agent.stop();
    for (const engine of ENGINES) await destroyTestGuest(guestOf(engine).name, { workDir: guestOf(engine).workDir }).catch(() => undefined);
    if (process.env.VDR_BENCH_KEEP) {
      progress(`kept ${WORK_DIR} (VDR_BENCH_KEEP)`);
    } else {
      await agent.discard();
      await rm(WORK_DIR, { recursive: true, force: true });
    }
  }

  const report: BenchReport = {
    mode: plan.mode,
    command,
    machine: await collectMachineFacts('/var/lib/libvirt/images', { 'virt-dr-agent': VERSION }),
    seconds: (performance.now() - started) / 1000,
    figures: results.flatMap((r) => r.figures),
    throughput: results.flatMap((r) => r.throughput ?? []),
    freeze: results.flatMap((r) => r.freeze ?? []),
    rpo: results.flatMap((r) => r.rpo ?? []),
    pending: [],
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const markdown = path.join(RESULTS_DIR, `${stem}.md`);
  await writeFile(`${markdown}.tmp`, renderMarkdown(report));
  await rename(`${markdown}.tmp`, markdown);
  await renderPlot(report, path.join(RESULTS_DIR, `${stem}.png`));
  progress(`wrote ${markdown} and ${stem}.png`);
}

/** A run killed half-way leaves its domains defined; they would hold their disks' locks. */
async function removeLeftoverDomains(): Promise<void> {
  const names = (await virsh(['list', '--all', '--name'])).split('\n').map((n) => n.trim());
  for (const name of names.filter((n) => n.startsWith(BENCH_DOMAIN_PREFIX))) {
    await destroyTestGuest(name, { workDir: path.join(WORK_DIR, 'guests', name) });
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
