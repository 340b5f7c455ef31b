import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { backupPoint, pointFile, type PointView } from '../../test/support/backup-api.js';
import { destroyTestGuest, guestExec, guestWriteRandomFile, run, virsh, waitForAgent } from '../../test/support/guest.js';
import { restored } from '../../test/support/restore-api.js';
import { BENCH_DOMAIN_PREFIX, type BenchContext } from '../context.js';
import { benchGuestDir, createHalfRandomGuest, sizeLabel } from '../half-random-guest.js';
import { HAND_INSTANT, HAND_NORMAL, handInstantRestore, handNormalRestore, type HandRestoreTarget } from '../hand-restore.js';
import { LifecycleEvents } from '../lifecycle-events.js';
import type { Figure, SuiteResult, ThroughputSample } from '../model.js';
import { median, MiB } from '../stats.js';

const SECTION = '6. Restore';
const CONVERT = '`qemu-img convert -f qcow2 -O qcow2` of the same point, then `sync -f`';
const GRACE = 'shutdown grace 0 s (VIRT_DR_RESTORE_SHUTDOWN_GRACE_S=0; the bench guest ignores ACPI): the agent forces the running guest off at once, as the `virsh destroy` by hand does';

/** One restore by the agent, timed from its request. */
interface AgentRestore {
  /** To libvirt's Started event. */
  toRunningS: number;
  /** The job's own `time_to_running_ms` (from leaving the queue), in s. */
  jobToRunningS: number;
  /** To the reply of restore(wait=true): the job's end. */
  endS: number;
  jobSeconds: number;
  /** The restored disks' virtual size. */
  bytes: number;
}

/** One hand-run baseline, timed from its first command. */
interface HandRestore {
  toRunningS: number;
  /** Normal: the convert and its sync; instant: to the end of the blockpull. */
  copyS: number;
}

interface PointRuns {
  agent: AgentRestore[];
  hand: HandRestore[];
}

/**
 * Section 6: a guest whose data disk starts half random gets a full and then N
 * incrementals, the guest writing a little before each. The full is restored normally
 * and instantly, the deep point normally, each time replacing the running domain, and
 * each next to its hand-run baseline (bench/hand-restore.ts), alternating so both see the
 * same machine. Times run to libvirt's Started event (LifecycleEvents); the guest boots
 * up to its guest agent before the next run, so no boot competes with a measurement.
 */
export async function runRestoreSuite(ctx: BenchContext): Promise<SuiteResult> {
  const { plan } = ctx;
  const name = `${BENCH_DOMAIN_PREFIX}restore`;
  const workDir = benchGuestDir(ctx.workDir, name);
  const size = sizeLabel(plan.restoreDiskMiB);
  const pointCopy = path.join(ctx.workDir, 'hand-restore-point.qcow2');
  const events = LifecycleEvents.start();
  let uuid: string | null = null;
  try {
    ctx.progress(`restore: a ${size} disk, half random`);
    const createdMs = Date.now();
    const guest = await createHalfRandomGuest(ctx, name, plan.restoreDiskMiB);
    uuid = guest.uuid;
    // Proves the event stream is live before anything is timed with it.
    await events.next(name, 'Started', createdMs, 30_000);
    await waitForAgent(name);
    const target: HandRestoreTarget = { domain: name, disk: guest.dataDisk, xmlFile: path.join(workDir, 'hand-restore.xml') };
    await writeFile(target.xmlFile, await virsh(['dumpxml', '--inactive', name]));

    const written = Math.round((plan.restoreDiskMiB * MiB * plan.restoreWritePercent) / 100);
    ctx.progress(`restore: a full, then ${plan.restoreChainDepth} incrementals after ${(written / MiB).toFixed(1)} MiB each`);
    const full = await backupPoint(ctx.client, name);
    let deep = full;
    for (let i = 1; i <= plan.restoreChainDepth; i++) {
      await guestWriteRandomFile(name, `/data/restore-${i}.bin`, written);
      deep = await backupPoint(ctx.client, name, { mode: 'incremental' });
    }
    await run('cp', ['--sparse=always', pointFile(ctx.agent.repoPath, full), pointCopy]);

    // Each run must have restored what it was asked to: the deep point's last file is there only after the deep point.
    const lastFile = `/data/restore-${plan.restoreChainDepth}.bin`;
    const proven = async <T>(what: string, point: PointView, restore: Promise<T>): Promise<T> => {
      const measured = await restore;
      const { exitCode } = await guestExec(name, ['/bin/sh', '-c', 'test -e "$1"', 'sh', lastFile]);
      if ((exitCode === 0) !== (point === deep)) throw new Error(`${what} of ${point.backup_id}: ${lastFile} is ${exitCode === 0 ? 'there' : 'missing'}`);
      return measured;
    };
    const normal: PointRuns = { agent: [], hand: [] };
    const instant: PointRuns = { agent: [], hand: [] };
    const deepNormal: PointRuns = { agent: [], hand: [] };
    const runNormal = async (runs: PointRuns, point: PointView) => {
      runs.agent.push(await proven('the agent\'s normal restore', point, agentRestore(ctx, events, name, point, false)));
      runs.hand.push(await proven('a normal restore by hand', point, handNormal(events, target, pointFile(ctx.agent.repoPath, point))));
    };
    for (let i = 1; i <= plan.restoreSamples; i++) {
      ctx.progress(`restore of the full point, ${i}/${plan.restoreSamples}: normal and instant, each by the agent and by hand`);
      await runNormal(normal, full);
      instant.agent.push(await proven('the agent\'s instant restore', full, agentRestore(ctx, events, name, full, true)));
      instant.hand.push(await proven('an instant restore by hand', full, handInstant(events, target, pointCopy)));
    }
    for (let i = 1; i <= plan.restoreSamples; i++) {
      ctx.progress(`restore of the point ${plan.restoreChainDepth} incrementals deep, ${i}/${plan.restoreSamples}: by the agent and by hand`);
      await runNormal(deepNormal, deep);
    }
    return report(size, plan.restoreChainDepth, plan.restoreSamples, { normal, instant, deepNormal });
  } finally {
    events.stop();
    await destroyTestGuest(name, { workDir });
    await rm(pointCopy, { force: true });
    // The points are only measured; their space is needed by the next suite.
    if (uuid) await rm(path.join(ctx.agent.repoPath, uuid), { recursive: true, force: true });
  }
}

async function agentRestore(ctx: BenchContext, events: LifecycleEvents, domain: string, point: PointView, instant: boolean): Promise<AgentRestore> {
  const requestedMs = Date.now();
  const result = await restored(ctx.client, domain, point.backup_id, { instant });
  const endMs = Date.now();
  const runningMs = await events.next(domain, 'Started', requestedMs);
  await waitForAgent(domain);
  return {
    toRunningS: (runningMs - requestedMs) / 1000,
    jobToRunningS: result.time_to_running_ms / 1000,
    endS: (endMs - requestedMs) / 1000,
    jobSeconds: result.duration_ms / 1000,
    bytes: result.disks.reduce((sum, d) => sum + d.virtual_size, 0),
  };
}

async function handNormal(events: LifecycleEvents, target: HandRestoreTarget, file: string): Promise<HandRestore> {
  const { beganMs, convertSeconds } = await handNormalRestore(target, file);
  const runningMs = await events.next(target.domain, 'Started', beganMs);
  await waitForAgent(target.domain);
  return { toRunningS: (runningMs - beganMs) / 1000, copyS: convertSeconds };
}

async function handInstant(events: LifecycleEvents, target: HandRestoreTarget, pointCopy: string): Promise<HandRestore> {
  const { beganMs, pulledMs } = await handInstantRestore(target, pointCopy);
  const runningMs = await events.next(target.domain, 'Started', beganMs);
  await waitForAgent(target.domain);
  return { toRunningS: (runningMs - beganMs) / 1000, copyS: (pulledMs - beganMs) / 1000 };
}

function report(size: string, depth: number, samples: number, runs: { normal: PointRuns; instant: PointRuns; deepNormal: PointRuns }): SuiteResult {
  const { normal, instant, deepNormal } = runs;
  const of = samples > 1 ? `, median of ${samples}` : '';
  const fullLabel = `${size} disk, full point`;
  const deepLabel = `${size} disk, point ${depth} incrementals deep`;
  const toRunning = (label: string, kind: string, agent: PointRuns, baseline: string): Figure => ({
    section: SECTION,
    name: `${label}: ${kind}, request to running domain${of}`,
    value: median(agent.agent.map((r) => r.toRunningS)),
    unit: 's',
    baseline: { name: baseline, value: median(agent.hand.map((r) => r.toRunningS)) },
    better: 'lower',
    note: `from the request (hand-run: its first command) to libvirt's Started event, by its timestamp; the job's own time_to_running_ms (from leaving the queue) had a median of ${median(agent.agent.map((r) => r.jobToRunningS)).toFixed(3)} s; ${GRACE}`,
  });
  const copyNote = `from the request to the job's end (the pull, the definition without backing, the old disk removed), unthrottled (restore.instant_bandwidth_mib_s 0); the job's own duration_ms had a median of ${median(instant.agent.map((r) => r.jobSeconds)).toFixed(2)} s`;
  const copyEnd = (baseline: string, value: number): Figure => ({
    section: SECTION,
    name: `${fullLabel}: instant restore (replace), request to the end of its copy${of}`,
    value: median(instant.agent.map((r) => r.endS)),
    unit: 's',
    baseline: { name: baseline, value },
    better: 'lower',
    note: copyNote,
  });
  const rates = (point: PointRuns) => {
    const mib = point.agent[0]!.bytes / MiB;
    return { agent: mib / median(point.agent.map((r) => r.endS)), convert: mib / median(point.hand.map((r) => r.copyS)) };
  };
  const throughputOf = (label: string, point: PointRuns): Figure => ({
    section: SECTION,
    name: `${label}: normal restore throughput (virtual size ÷ time)${of}`,
    value: rates(point).agent,
    unit: 'MiB/s',
    baseline: { name: CONVERT, value: rates(point).convert },
    better: 'higher',
    note: `the agent's time is the whole request: the sha256 of every layer while qemu-img convert flattens the chain, qemu-img compare, fsync, the forced stop, swap, define, start, and the old disk's removal; ${GRACE}`,
  });
  const figures: Figure[] = [
    toRunning(fullLabel, 'normal restore (replace)', normal, HAND_NORMAL),
    toRunning(deepLabel, 'normal restore (replace)', deepNormal, HAND_NORMAL),
    toRunning(fullLabel, 'instant restore (replace)', instant, HAND_INSTANT),
    copyEnd(CONVERT, median(normal.hand.map((r) => r.copyS))),
    copyEnd(`${HAND_INSTANT}, then \`virsh blockpull --wait\``, median(instant.hand.map((r) => r.copyS))),
    throughputOf(fullLabel, normal),
    throughputOf(deepLabel, deepNormal),
  ];
  const throughput = (
    [
      [`${size} restore, full point`, normal],
      [`${size} restore, ${depth} deep`, deepNormal],
    ] as const
  ).flatMap(([workload, point]): ThroughputSample[] => [
    { workload, tool: 'virt-dr restore', mibPerSecond: rates(point).agent },
    { workload, tool: 'qemu-img convert + sync', mibPerSecond: rates(point).convert },
  ]);
  return { figures, throughput };
}
