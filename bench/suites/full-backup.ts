import { rm } from 'node:fs/promises';
import path from 'node:path';
import { backupPoint, diskChain, type PointView } from '../../test/support/backup-api.js';
import { destroyTestGuest, waitForAgent } from '../../test/support/guest.js';
import type { EngineName } from '../../src/repo/point.js';
import { BENCH_DOMAIN_PREFIX, type BenchContext } from '../context.js';
import { DURABLE_CP as CP, durableConvert, durableCopy } from '../copy-baselines.js';
import { benchGuestDir, createHalfRandomGuest, sizeLabel } from '../half-random-guest.js';
import { processUsage, timeAsync, type CommandCost } from '../measure.js';
import type { Figure, SuiteResult, ThroughputSample } from '../model.js';
import { GiB, MiB } from '../stats.js';

const THROUGHPUT = '2. Full-backup throughput';
const COST = '4. Agent cost';
const CONVERT_FILE = '`qemu-img convert -f qcow2 -O qcow2` of the same file, then `sync -f`';
const CONVERT_CHAIN = '`qemu-img convert -f qcow2 -O qcow2` of the same chain, then `sync -f`';

/** One full backup by the agent, with what it cost the agent's process. */
interface AgentRun {
  point: PointView;
  seconds: number;
  cpuSeconds: number;
}

/**
 * For each disk size: a guest whose ext4 data disk is half random data. Three fulls each:
 * the checkpoint engine's (QEMU writes the point) and the snapshot engine's first (it
 * copies the disk's only file), both against cp and qemu-img convert of that file; then a
 * forced snapshot-engine full that flattens the base and the agent's overlay (against
 * qemu-img convert of that chain). Baselines run first, on the same files, in the same
 * page cache state; the checkpoint engine goes before the snapshot engine, which leaves
 * its overlay on the disk. Runs last, so the agent's peak RSS covers the whole bench.
 */
export async function runFullBackup(ctx: BenchContext): Promise<SuiteResult> {
  const figures: Figure[] = [];
  const throughput: ThroughputSample[] = [];
  let baselinePeakRssKiB = 0;
  for (const sizeMiB of ctx.plan.fullDiskMiB) {
    const size = sizeLabel(sizeMiB);
    const name = `${BENCH_DOMAIN_PREFIX}full-${sizeMiB}`;
    const workDir = benchGuestDir(ctx.workDir, name);
    ctx.progress(`full backup: a ${size} disk, half random`);
    const guest = await createHalfRandomGuest(ctx, name, sizeMiB);
    try {
      await waitForAgent(name);
      const scratch = path.join(ctx.workDir, 'baseline-copy.qcow2');

      ctx.progress(`full backup of ${size}: the first, by each engine`);
      const cp = await durableCopy(guest.dataDisk, scratch);
      const convert = await durableConvert(guest.dataDisk, scratch);
      const byCheckpoint = await agentFull(ctx, name, 'full', 'checkpoint');
      const bySnapshot = await agentFull(ctx, name, 'full', 'snapshot');

      ctx.progress(`full backup of ${size}: a forced snapshot-engine full of base and overlay`);
      const convertChain = await durableConvert((await diskChain(name))[0]!, scratch);
      const flatten = await agentFull(ctx, name, 'full', 'snapshot');

      baselinePeakRssKiB = Math.max(baselinePeakRssKiB, convert.peakRssKiB, convertChain.peakRssKiB);
      const checkpointWorkload = `${size} disk, first full, checkpoint engine`;
      const firstWorkload = `${size} disk, first full, snapshot engine`;
      const chainWorkload = `${size} disk, full of base + overlay, snapshot engine`;
      figures.push(
        throughputFigure(checkpointWorkload, byCheckpoint, CP, cp),
        throughputFigure(checkpointWorkload, byCheckpoint, CONVERT_FILE, convert),
        throughputFigure(firstWorkload, bySnapshot, CP, cp),
        throughputFigure(firstWorkload, bySnapshot, CONVERT_FILE, convert),
        throughputFigure(chainWorkload, flatten, CONVERT_CHAIN, convertChain),
        cpuFigure(checkpointWorkload, byCheckpoint, convert),
        cpuFigure(firstWorkload, bySnapshot, convert),
        cpuFigure(chainWorkload, flatten, convertChain),
      );
      const mibps = (run: AgentRun, seconds: number) => run.point.bytes / MiB / seconds;
      throughput.push(
        { workload: `${size} first full`, tool: 'virt-dr, checkpoint engine', mibPerSecond: mibps(byCheckpoint, byCheckpoint.seconds) },
        { workload: `${size} first full`, tool: 'virt-dr, snapshot engine', mibPerSecond: mibps(bySnapshot, bySnapshot.seconds) },
        { workload: `${size} first full`, tool: 'cp + sync', mibPerSecond: mibps(bySnapshot, cp.seconds) },
        { workload: `${size} first full`, tool: 'qemu-img convert + sync', mibPerSecond: mibps(bySnapshot, convert.seconds) },
        { workload: `${size} base + overlay`, tool: 'virt-dr, snapshot engine', mibPerSecond: mibps(flatten, flatten.seconds) },
        { workload: `${size} base + overlay`, tool: 'qemu-img convert + sync', mibPerSecond: mibps(flatten, convertChain.seconds) },
      );
      // The points are only measured; their space is needed for the next size.
      await rm(path.join(ctx.agent.repoPath, guest.uuid), { recursive: true, force: true });
    } finally {
      await destroyTestGuest(name, { workDir });
    }
  }
  const { peakRssKiB } = await processUsage(ctx.agentPid);
  figures.push({
    section: COST,
    name: 'peak RSS of the agent over the whole run',
    value: peakRssKiB / 1024,
    unit: 'MiB',
    baseline: { name: 'peak RSS of `qemu-img convert` in this suite', value: baselinePeakRssKiB / 1024 },
    better: 'lower',
  });
  return { figures, throughput };
}

async function agentFull(ctx: BenchContext, domain: string, mode: 'full', engine: EngineName): Promise<AgentRun> {
  const before = await processUsage(ctx.agentPid);
  const { seconds, value: point } = await timeAsync(() => backupPoint(ctx.client, domain, { mode, engine }));
  const after = await processUsage(ctx.agentPid);
  if (point.mode !== 'full') throw new Error(`expected a full backup of ${domain}, got ${point.mode}`);
  return { point, seconds, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
}

/** MiB/s of the bytes the agent stored, so the agent and its baseline share one numerator. */
function throughputFigure(workload: string, run: AgentRun, baselineName: string, baseline: CommandCost): Figure {
  const mib = run.point.bytes / MiB;
  return {
    section: THROUGHPUT,
    name: `${workload} (${mib.toFixed(0)} MiB stored)`,
    value: mib / run.seconds,
    unit: 'MiB/s',
    baseline: { name: baselineName, value: mib / baseline.seconds },
    better: 'higher',
    note: 'the agent\'s time is the whole request: freeze, snapshot or backup job, copy, fsync, sha256 read-back, manifest, publish',
  };
}

function cpuFigure(workload: string, run: AgentRun, baseline: CommandCost): Figure {
  const gib = run.point.bytes / GiB;
  return {
    section: COST,
    name: `CPU seconds per GiB stored, ${workload}`,
    value: run.cpuSeconds / gib,
    unit: 'CPU s/GiB',
    baseline: { name: '`qemu-img convert` (user + system) of the same data', value: baseline.cpuSeconds / gib },
    better: 'lower',
  };
}
