import path from 'node:path';
import type { TestGuest } from '../../test/support/guest.js';
import { guestWriteRandomFile } from '../../test/support/guest.js';
import { backupJob, pointFile } from '../../test/support/backup-api.js';
import type { EngineName } from '../../src/repo/point.js';
import type { BenchContext } from '../context.js';
import { durableCopy } from '../copy-baselines.js';
import { jobSeconds } from '../measure.js';
import type { Figure, SuiteResult } from '../model.js';
import { MiB } from '../stats.js';

const SECTION = '3. Incremental efficiency';

/**
 * The guest writes a share of its disk, then the agent takes an incremental. What it
 * stores is compared with what the guest wrote; the time with a durable copy of the
 * stored bytes, which is all an incremental has to move. Needs a guest whose chain the
 * agent already holds (the freeze-window suite leaves one).
 */
export async function runIncremental(ctx: BenchContext, guest: TestGuest, engine: EngineName): Promise<SuiteResult> {
  const figures: Figure[] = [];
  for (const percent of ctx.plan.incrementalPercents) {
    const written = Math.round((ctx.plan.incrementalDiskMiB * MiB * percent) / 100);
    ctx.progress(`incremental, ${engine} engine: the guest writes ${percent} % of its disk (${(written / MiB).toFixed(1)} MiB)`);
    await guestWriteRandomFile(guest.name, `/data/incremental-${percent}.bin`, written);
    const job = await backupJob(ctx.client, guest.name, { mode: 'incremental', engine });
    if (job.state !== 'succeeded' || !job.result) throw new Error(`incremental after ${percent} %: ${job.error?.class}: ${job.error?.message}`);
    const stored = job.result.bytes;
    const copy = await durableCopy(pointFile(ctx.agent.repoPath, job.result), path.join(ctx.workDir, 'incremental-copy.qcow2'));
    const label = `${engine} engine: guest wrote ${percent} % of a ${ctx.plan.incrementalDiskMiB} MiB disk`;
    figures.push(
      {
        section: SECTION,
        name: `${label}: bytes stored`,
        value: stored / MiB,
        unit: 'MiB',
        baseline: { name: 'bytes the guest wrote', value: written / MiB },
        better: 'lower',
        note: 'the surplus is ext4 metadata and the guest heartbeat, in 64 KiB qcow2 clusters',
      },
      {
        section: SECTION,
        name: `${label}: backup job time`,
        value: jobSeconds(job),
        unit: 's',
        baseline: { name: '`cp --sparse=always`, then `sync -f`, of the stored file', value: copy.seconds },
        better: 'lower',
      },
    );
  }
  return { figures };
}
