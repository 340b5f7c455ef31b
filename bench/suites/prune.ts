import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { waitForEvent } from '../../test/support/agent-process.js';
import { backupJob, type JobView, type PointView } from '../../test/support/backup-api.js';
import { destroyTestGuest, guestWriteRandomFile, waitForAgent } from '../../test/support/guest.js';
import { BENCH_DOMAIN_PREFIX, type BenchContext } from '../context.js';
import { benchGuestDir, createHalfRandomGuest, sizeLabel } from '../half-random-guest.js';
import { handMerge, handMergePlan } from '../hand-merge.js';
import { measureCommand } from '../measure.js';
import type { SuiteResult } from '../model.js';
import { pruneReport, type PruneRun } from '../prune-report.js';
import { endsPruneOf, pruneSample, type PruneJobView } from '../prune-samples.js';
import { MiB } from '../stats.js';

/** Two points kept: from the third backup on, each prune merges the oldest into its child. */
const MAX_COUNT = 2;
/** A prune verifies and merges up to a few GiB: generous, so only a stuck one fails. */
const PRUNE_TIMEOUT_MS = 600_000;

/**
 * Section 8: a guest whose data disk starts half random gets a policy of retention
 * max_count 2 over the bus (no schedule), then a full and N incrementals asked for as
 * "scheduled" backups, the guest writing a share of its disk before each. After each
 * backup the agent runs a prune job on its own (verify the new point, then merge the
 * oldest point into its child); the suite waits for its `virt_dr.prune.end` and pairs it
 * with the backup by the point it verified. Before each backup whose prune will merge, the
 * same merge runs by hand on copies of the same two points (bench/hand-merge.ts); after
 * it, `sha256sum` and `openssl dgst -sha256` read the new point as the prune's verification did.
 */
export async function runPruneSuite(ctx: BenchContext): Promise<SuiteResult> {
  const { plan } = ctx;
  const name = `${BENCH_DOMAIN_PREFIX}prune`;
  const workDir = benchGuestDir(ctx.workDir, name);
  const asideDir = path.join(ctx.workDir, 'prune-aside');
  const size = sizeLabel(plan.pruneDiskMiB);
  const { client: watcher, events } = await ctx.agent.watchingClient();
  let uuid: string | null = null;
  try {
    ctx.progress(`prune: a ${size} disk, half random, and a policy of retention max_count ${MAX_COUNT}`);
    const guest = await createHalfRandomGuest(ctx, name, plan.pruneDiskMiB);
    uuid = guest.uuid;
    const domainDir = path.join(ctx.agent.repoPath, guest.uuid);
    await waitForAgent(name);
    await setPolicy(ctx.client, name, { retention: { max_count: MAX_COUNT } });

    const written = Math.round((plan.pruneDiskMiB * MiB * plan.pruneWritePercent) / 100);
    const runs: PruneRun[] = [];
    for (let i = 0; i <= plan.pruneIncrementals; i++) {
      if (i > 0) await guestWriteRandomFile(name, `/data/prune-${i}.bin`, written);
      const held = await listBackups(ctx.client, name);
      // The oldest goes after this backup: merge it by hand first, so both merges see the same data.
      const pruned = held.length >= MAX_COUNT ? held[0]!.backup_id : null;
      if (pruned) ctx.progress(`prune ${runs.length + 1}/${plan.pruneIncrementals - 1}: ${pruned} into its child by hand, on copies`);
      const hand = pruned ? await handMerge(domainDir, asideDir, handMergePlan(held, pruned)) : null;
      ctx.progress(`prune: backup ${i + 1}/${plan.pruneIncrementals + 1} (${i === 0 ? 'full' : `incremental after ${(written / MiB).toFixed(1)} MiB`}), then the agent's prune`);
      const backup = await scheduledBackup(ctx.client, name, i === 0 ? 'full' : 'incremental');
      const point = backup.result!;
      const end = await waitForEvent(events, (n) => endsPruneOf(n, guest.uuid, point.backup_id), PRUNE_TIMEOUT_MS);
      if (!pruned || !hand) continue;
      const files = point.disks.map((d) => path.join(domainDir, point.backup_id, d.file));
      runs.push({
        sample: pruneSample(backup, end.payload as unknown as PruneJobView, pruned),
        handMergeS: hand.seconds,
        sha256sumS: (await measureCommand(['sha256sum', ...files])).seconds,
        opensslS: (await measureCommand(['openssl', 'dgst', '-sha256', ...files])).seconds,
        newPointBytes: point.disks.reduce((sum, d) => sum + d.size, 0),
      });
    }
    return pruneReport({ size, writePercent: plan.pruneWritePercent, maxCount: MAX_COUNT }, runs);
  } finally {
    const tidy = async (what: string, step: () => Promise<unknown>) => {
      await step().catch((err: unknown) => ctx.progress(`prune: cleaning up ${what} failed: ${err instanceof Error ? err.message : String(err)}`));
    };
    await tidy('the watching client', () => watcher.close());
    // The agent keeps a domain's policy in its state; the next run's domain is a new one.
    if (uuid) await tidy('the policy', () => setPolicy(ctx.client, uuid!, null));
    await tidy('the guest', () => destroyTestGuest(name, { workDir }));
    await rm(asideDir, { recursive: true, force: true });
    // The points are only measured; their space is needed by the next suite.
    if (uuid) await rm(path.join(ctx.agent.repoPath, uuid), { recursive: true, force: true });
  }
}

function setPolicy(client: RpcClient, domain: string, policy: object | null): Promise<unknown> {
  return client.call('set_policy', { domain, policy }, { timeoutMs: 20_000 });
}

async function listBackups(client: RpcClient, domain: string): Promise<PointView[]> {
  return (await client.call<{ backups: PointView[] }>('list_backups', { domain }, { timeoutMs: 20_000 })).backups;
}

/** A backup of the default kind, "scheduled": the kind a policy's prune follows. */
async function scheduledBackup(client: RpcClient, domain: string, mode: 'full' | 'incremental'): Promise<JobView> {
  const job = await backupJob(client, domain, { mode });
  if (job.state !== 'succeeded' || !job.result) throw new Error(`the ${mode} backup of ${domain} ended ${job.state}: ${job.error?.class}: ${job.error?.message}`);
  return job;
}
