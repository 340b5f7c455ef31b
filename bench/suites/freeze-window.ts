import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestGuest } from '../../test/support/guest.js';
import { virsh } from '../../test/support/guest.js';
import { backupPoint } from '../../test/support/backup-api.js';
import type { EngineName } from '../../src/repo/point.js';
import type { BenchContext } from '../context.js';
import { LibvirtdAgentLog } from '../libvirtd-agent-log.js';
import type { Figure, SuiteResult } from '../model.js';
import { timeAsync } from '../measure.js';
import { max, median, percentile } from '../stats.js';

const SECTION = '1. Freeze window';
const VIRSH_TOOL = 'virsh snapshot-create-as --quiesce, blockcommit --shallow --pivot';

/**
 * The guest's stall per backup with one engine, against the same stall of an external
 * snapshot run by hand with virsh (the baseline of both engines: the checkpoint engine's
 * freeze covers the start of a backup job instead of a snapshot). The two alternate, so
 * both see the same machine: a shared host drifts over a run. The agent's full goes
 * first; each virsh commit is --shallow, into the active layer, which leaves the agent's
 * chain (or the checkpoint engine's plain disk) as it found it.
 */
export async function runFreezeWindow(ctx: BenchContext, guest: TestGuest, engine: EngineName): Promise<SuiteResult> {
  const count = ctx.plan.freezeSamples;
  const agentTool = `virt-dr backup, ${engine} engine`;
  const log = await LibvirtdAgentLog.start(path.join(ctx.workDir, 'libvirtd-agent.log'));
  try {
    ctx.progress(`freeze window, ${engine} engine: ${count} agent backups and ${count} hand-timed virsh cycles, alternating`);
    const agentWindows: number[] = [];
    const virshWindows: number[] = [];
    const agentSeconds: number[] = [];
    const virshSeconds: number[] = [];
    const selfReported: number[] = [];
    /** Runs one step and files the freeze windows libvirtd logged meanwhile under it. */
    const sampled = async <T>(windows: number[], step: () => Promise<T>) => {
      const before = (await log.windows()).length;
      const timed = await timeAsync(step);
      windows.push(...(await log.windows()).slice(before));
      return timed;
    };
    for (let i = 0; i < count; i++) {
      const { seconds, value: point } = await sampled(agentWindows, () => backupPoint(ctx.client, guest.name, { engine }));
      selfReported.push(point.freeze_ms);
      // The first is the full: its time is the copy's, which section 2 measures.
      if (i > 0) agentSeconds.push(seconds);
      const overlay = path.join(ctx.workDir, `virsh-overlay-${i}.qcow2`);
      virshSeconds.push((await sampled(virshWindows, () => virshSnapshotCycle(guest, overlay))).seconds);
    }

    for (const [tool, windows] of [
      [VIRSH_TOOL, virshWindows],
      [agentTool, agentWindows],
    ] as const) {
      // Fewer windows than runs means a run fell back to pausing the guest: not comparable.
      if (windows.length !== count) throw new Error(`${tool}: ${windows.length} freeze windows logged for ${count} runs`);
    }
    return {
      figures: [
        ...statsFigures(engine, count, agentWindows, virshWindows, median(selfReported)),
        {
          section: SECTION,
          name: `${engine} engine: whole cycle on a quiet guest, median of ${agentSeconds.length}`,
          value: median(agentSeconds),
          unit: 's',
          baseline: { name: 'the two virsh commands above, wall time', value: median(virshSeconds) },
          better: 'lower',
          note: 'the agent\'s incremental also copies, verifies and publishes the few MiB written since the last one',
        },
      ],
      freeze: [
        { tool: agentTool, ms: agentWindows },
        { tool: VIRSH_TOOL, ms: virshWindows },
      ],
    };
  } finally {
    await log.stop();
  }
}

/** The baseline, as an operator would type it: one quiesced external snapshot, then commit it back. */
async function virshSnapshotCycle(guest: TestGuest, overlay: string): Promise<void> {
  await rm(overlay, { force: true });
  await virsh(['snapshot-create-as', guest.name, '--disk-only', '--quiesce', '--atomic', '--no-metadata', '--diskspec', `vda,file=${overlay}`]);
  await virsh(['blockcommit', guest.name, 'vda', '--active', '--shallow', '--pivot', '--wait'], { timeoutMs: 300_000 });
  await rm(overlay, { force: true });
}

function statsFigures(engine: EngineName, count: number, agent: number[], virsh: number[], agentSelfReportedMedian: number): Figure[] {
  const baselineName = `\`virsh snapshot-create-as --disk-only --quiesce --atomic --no-metadata\`, then \`virsh blockcommit --active --shallow --pivot\``;
  const stat = (name: string, of: (ms: number[]) => number, note?: string): Figure => ({
    section: SECTION,
    name: `${engine} engine: ${name} over ${count} backups`,
    value: of(agent),
    unit: 'ms',
    baseline: { name: baselineName, value: of(virsh) },
    better: 'lower',
    ...(note ? { note } : {}),
  });
  return [
    stat('median', median, `guest agent's fsfreeze reply to its fsthaw reply, in libvirtd's log; the agent itself reported a median of ${agentSelfReportedMedian} ms`),
    stat('p95', (ms) => percentile(ms, 95)),
    stat('maximum', max),
  ];
}
