import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RpcClient } from '../src/bus/rpc-client.js';
import { destroyTestGuest, guestSha256, run, virsh, waitForAgent, type TestGuest } from '../test/support/guest.js';
import { endedJob, type RestoreView } from '../test/support/restore-api.js';
import type { LifecycleEvents } from './lifecycle-events.js';

/** One start of the domain, timed from its request (the hand-run one: from `virsh define`). */
export interface TimedStart {
  /** To libvirt's Started event. */
  toStartedS: number;
  /** To the first guest-ping answer. */
  toGuestAgentS: number;
}

export interface FailoverRuns {
  failover: TimedStart[];
  hand: TimedStart[];
}

export const DEFINE_AND_START = '`virsh define` + `virsh start` of the same domain on a copy of its disk';

export interface FailoverTimingOptions {
  /** The domain, destroyed and undefined at home; `xml` and `dataDisk` are what it ran with there. */
  guest: Pick<TestGuest, 'name' | 'workDir' | 'xml' | 'dataDisk'>;
  drClient: RpcClient;
  drHost: string;
  /** Where failover.path_map puts the domain's disks on the DR node. */
  drDisks: string;
  /** Where the hand-run baseline's copy of the disk goes. */
  handDir: string;
  events: LifecycleEvents;
  /** A file of the newest point: each failover must bring it. */
  expectFile: { path: string; sha256: string };
  samples: number;
  progress(message: string): void;
}

/**
 * Failovers of a domain lost at home, each from the request (wait=false, on the DR
 * agent's queue) to its guest agent's first answer, alternating with the floor any
 * failover has: the same domain defined and started by hand on a copy of its home disk.
 * Each failed-over domain is checked for the point's data, and removed with its disks
 * once its job (the background copy) has ended, so the next run starts as the first.
 */
export async function measureFailovers(o: FailoverTimingOptions): Promise<FailoverRuns> {
  const { name } = o.guest;
  const runs: FailoverRuns = { failover: [], hand: [] };
  for (let i = 1; i <= o.samples; i++) {
    o.progress(`dr: failover to a running guest agent, and define + start by hand, ${i}/${o.samples}`);
    const requested = Date.now();
    const { job_id: jobId } = await o.drClient.call<{ job_id: string }>('failover', { domain: name, wait: false }, { server: o.drHost });
    runs.failover.push(await timedStart(o, requested));
    const job = await endedJob<RestoreView>(o.drClient, jobId, o.drHost);
    if (job.state !== 'succeeded') throw new Error(`failover of ${name} ended ${job.state}: ${job.error?.class}: ${job.error?.message}`);
    const sha256 = await guestSha256(name, o.expectFile.path);
    if (sha256 !== o.expectFile.sha256) throw new Error(`the failed-over ${name} has ${o.expectFile.path} as sha256 ${sha256}, the point's is ${o.expectFile.sha256}`);
    await destroyTestGuest(name, { workDir: o.drDisks });

    runs.hand.push(await handStart(o));
    await destroyTestGuest(name, { workDir: o.handDir });
  }
  return runs;
}

/** The domain, as it ran at home, on a copy of its disk: defined and started, timed from the define. */
async function handStart(o: FailoverTimingOptions): Promise<TimedStart> {
  await mkdir(o.handDir, { recursive: true, mode: 0o755 });
  await run('cp', ['--sparse=always', o.guest.dataDisk, path.join(o.handDir, path.basename(o.guest.dataDisk))], { timeoutMs: 600_000 });
  const xmlFile = path.join(o.handDir, 'domain.xml');
  // The disk and the console log both live in the guest's folder.
  await writeFile(xmlFile, o.guest.xml.replaceAll(o.guest.workDir, o.handDir));
  const began = Date.now();
  await virsh(['define', xmlFile]);
  await virsh(['start', o.guest.name], { timeoutMs: 120_000 });
  return timedStart(o, began);
}

async function timedStart(o: FailoverTimingOptions, fromMs: number): Promise<TimedStart> {
  const startedMs = await o.events.next(o.guest.name, 'Started', fromMs);
  await waitForAgent(o.guest.name);
  return { toStartedS: (startedMs - fromMs) / 1000, toGuestAgentS: (Date.now() - fromMs) / 1000 };
}
