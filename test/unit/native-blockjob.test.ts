/**
 * Block-job polling helpers of native/blockjob.ts against a scripted fake Domain.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  abortableSleep,
  type BlockJobInfo,
  BlockJobError,
  commitActiveWithPivot,
  commitIntermediate,
  diskHasBacking,
  type Domain,
  FIRST_POLL_MS,
  followPull,
  LibvirtError,
  pullBacking,
  VIR_ERR_BLOCK_COPY_ACTIVE,
  VIR_ERR_OPERATION_INVALID,
  VIR_FROM_QEMU,
  waitForBlockJob,
} from '../../native/index.js';

const job = (cur: number, end: number, type = 4): BlockJobInfo => ({
  type,
  kind: type === 4 ? 'active-commit' : 'commit',
  bandwidth: 0,
  cur,
  end,
});

/** A Domain whose getBlockJobInfo replays `states` (the last one repeats). */
class FakeDomain {
  readonly name = 'fake';
  readonly uuid = '00000000-0000-0000-0000-000000000000';
  calls: string[] = [];
  polls = 0;
  pivotFailures = 0;
  xml = "<domain><devices><disk><source file='/img/base.qcow2'/></disk></devices></domain>";

  constructor(private states: (BlockJobInfo | null)[]) {}

  async getBlockJobInfo(disk: string): Promise<BlockJobInfo | null> {
    this.calls.push(`info ${disk}`);
    const s = this.states[Math.min(this.polls, this.states.length - 1)] ?? null;
    this.polls++;
    return s;
  }

  async blockCommit(disk: string, opts: { base: string | null; top: string | null; active: boolean; shallow?: boolean }): Promise<void> {
    this.calls.push(`commit ${disk} base=${opts.base} top=${opts.top} active=${opts.active} shallow=${opts.shallow ?? false}`);
  }

  async abortBlockJob(disk: string, opts: { pivot?: boolean } = {}): Promise<void> {
    this.calls.push(`abort ${disk} pivot=${opts.pivot ?? false}`);
    if (opts.pivot && this.pivotFailures > 0) {
      this.pivotFailures--;
      throw new LibvirtError({
        code: VIR_ERR_BLOCK_COPY_ACTIVE,
        domain: VIR_FROM_QEMU,
        message: "disk 'vda' not ready for pivot yet",
        operation: 'virDomainBlockJobAbort',
      });
    }
    if (opts.pivot) this.states = [null];
  }

  /** From now on the job is gone. */
  finish(): void {
    this.states = [null];
    this.polls = 0;
  }

  async getXml(): Promise<string> {
    return this.xml;
  }

  asDomain(): Domain {
    return this as unknown as Domain;
  }
}

describe('abortableSleep', () => {
  it('resolves after the delay', async () => {
    const t0 = Date.now();
    await abortableSleep(30);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('rejects with the abort reason, immediately or while sleeping', async () => {
    const reason = new Error('cancelled');
    await expect(abortableSleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
    const ac = new AbortController();
    const p = abortableSleep(10_000, ac.signal);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
  });
});

describe('waitForBlockJob', () => {
  it("until 'gone' polls until there is no job, reporting progress", async () => {
    const d = new FakeDomain([job(0, 100, 3), job(50, 100, 3), null]);
    const seen: number[] = [];
    expect(await waitForBlockJob(d.asDomain(), 'vda', { until: 'gone', pollMs: 1, onProgress: (i) => seen.push(i.cur) })).toBeNull();
    expect(seen).toEqual([0, 50]);
  });

  it('polls soon after the start, then backs off to pollMs', async () => {
    vi.useFakeTimers();
    try {
      const d = new FakeDomain([job(0, 100, 3)]);
      const pollsAt: number[] = [];
      const done = waitForBlockJob(d.asDomain(), 'vda', { until: 'gone', pollMs: 100, onProgress: () => pollsAt.push(Date.now()) });
      await vi.advanceTimersByTimeAsync(FIRST_POLL_MS * (1 + 2 + 4 + 8) + 100 * 2);
      const gaps = pollsAt.slice(1).map((t, i) => t - pollsAt[i]!);
      expect(gaps).toEqual([10, 20, 40, 80, 100, 100]);
      d.finish();
      await vi.advanceTimersByTimeAsync(100);
      await expect(done).resolves.toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it("until 'ready' resolves when cur == end > 0", async () => {
    const d = new FakeDomain([job(0, 0), job(10, 100), job(100, 100)]);
    const info = await waitForBlockJob(d.asDomain(), 'vda', { until: 'ready', pollMs: 1 });
    expect(info).toEqual(job(100, 100));
    expect(d.polls).toBe(3);
  });

  it("until 'ready' rejects with BlockJobError when the job vanishes", async () => {
    const d = new FakeDomain([job(10, 100), null]);
    await expect(waitForBlockJob(d.asDomain(), 'vda', { until: 'ready', pollMs: 1 })).rejects.toBeInstanceOf(BlockJobError);
  });

  it('rejects with the abort reason and stops polling', async () => {
    const d = new FakeDomain([job(1, 100)]);
    const ac = new AbortController();
    const reason = new Error('job cancelled by operator');
    setTimeout(() => ac.abort(reason), 30);
    await expect(waitForBlockJob(d.asDomain(), 'vda', { until: 'gone', pollMs: 5, signal: ac.signal })).rejects.toBe(reason);
    const polls = d.polls;
    await abortableSleep(30);
    expect(d.polls).toBe(polls);
  });
});

describe('commitActiveWithPivot', () => {
  it('commits shallow by default, waits for ready, retries a not-ready pivot', async () => {
    const d = new FakeDomain([job(0, 100), job(100, 100)]);
    d.pivotFailures = 2;
    await commitActiveWithPivot(d.asDomain(), 'vda', { pollMs: 1 });
    expect(d.calls.filter((c) => !c.startsWith('info'))).toEqual([
      'commit vda base=null top=null active=true shallow=true',
      'abort vda pivot=true',
      'abort vda pivot=true',
      'abort vda pivot=true',
    ]);
  });

  it('gives up after pivotRetries', async () => {
    const d = new FakeDomain([job(100, 100)]);
    d.pivotFailures = 5;
    await expect(commitActiveWithPivot(d.asDomain(), 'vda', { pollMs: 1, pivotRetries: 2 })).rejects.toMatchObject({
      code: VIR_ERR_BLOCK_COPY_ACTIVE,
    });
  });

  it('does not retry other pivot errors', async () => {
    const d = new FakeDomain([job(100, 100)]);
    d.abortBlockJob = async () => {
      throw new LibvirtError({ code: VIR_ERR_OPERATION_INVALID, domain: VIR_FROM_QEMU, message: 'domain is not running', operation: 'x' });
    };
    await expect(commitActiveWithPivot(d.asDomain(), 'vda', { pollMs: 1 })).rejects.toMatchObject({ code: VIR_ERR_OPERATION_INVALID });
  });

  it('cancels the job when aborted', async () => {
    const d = new FakeDomain([job(1, 100)]);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await expect(commitActiveWithPivot(d.asDomain(), 'vda', { pollMs: 2, signal: ac.signal })).rejects.toThrow('stop');
    expect(d.calls).toContain('abort vda pivot=false');
  });
});

describe('commitIntermediate', () => {
  it('commits top into base and waits until the job is gone', async () => {
    const d = new FakeDomain([job(0, 10, 3), null]);
    await commitIntermediate(d.asDomain(), 'vda', '/img/base.qcow2', '/img/ov1.qcow2', { pollMs: 1 });
    expect(d.calls[0]).toBe('commit vda base=/img/base.qcow2 top=/img/ov1.qcow2 active=false shallow=false');
  });

  it('reports a job that vanished without removing top from the chain', async () => {
    const d = new FakeDomain([null]);
    d.xml = "<disk><source file='/img/ov1.qcow2'/></disk>";
    await expect(
      commitIntermediate(d.asDomain(), 'vda', '/img/base.qcow2', '/img/ov1.qcow2', { pollMs: 1 }),
    ).rejects.toBeInstanceOf(BlockJobError);
  });
});

const BACKED = `<domain><devices><disk type='file' device='disk'><source file='/img/top.qcow2' index='2'/><backingStore type='file' index='1'><format type='qcow2'/><source file='/repo/p1/vda.qcow2'/><backingStore/></backingStore><target dev='vda'/></disk></devices></domain>`;
const FLAT = `<domain><devices><disk type='file' device='disk'><source file='/img/top.qcow2' index='2'/><backingStore/><target dev='vda'/></disk></devices></domain>`;
const pull = (cur: number, end = 100): BlockJobInfo => ({ type: 1, kind: 'pull', bandwidth: 0, cur, end });

/**
 * A domain with one disk, vda, on a backing chain: its block job replays `states` (the
 * last one repeats); once it reports no job, the chain is flat when `completes` says so.
 */
class PullingDomain extends FakeDomain {
  constructor(
    states: (BlockJobInfo | null)[],
    private readonly completes = true,
  ) {
    super(states);
    this.xml = BACKED;
  }

  override async getBlockJobInfo(disk: string): Promise<BlockJobInfo | null> {
    const info = await super.getBlockJobInfo(disk);
    if (info === null && this.polls > 1 && this.completes) this.xml = FLAT;
    return info;
  }

  async blockPull(disk: string, opts: { bandwidthMiBps?: number } = {}): Promise<void> {
    this.calls.push(`pull ${disk} bandwidth=${opts.bandwidthMiBps ?? 0}`);
  }
}

describe('diskHasBacking', () => {
  it('reads the disk\'s chain from the live XML by its target', () => {
    expect(diskHasBacking(BACKED, 'vda')).toBe(true);
    expect(diskHasBacking(FLAT, 'vda')).toBe(false);
    // libvirt leaves the element out when it does not know the chain (inactive XML).
    expect(diskHasBacking("<domain><devices><disk><source file='/a'/><target dev='vda'/></disk></devices></domain>", 'vda')).toBe(false);
  });

  it('refuses a disk the domain does not have', () => {
    expect(() => diskHasBacking(FLAT, 'vdb')).toThrow(BlockJobError);
  });
});

describe('pullBacking', () => {
  it('starts a pull with the given bandwidth, follows it and checks the disk is flat', async () => {
    const d = new PullingDomain([null, pull(0), pull(60), null]);
    const seen: number[] = [];
    const outcome = await pullBacking(d.asDomain(), 'vda', { bandwidthMiBps: 3, pollMs: 1, onProgress: (i) => seen.push(i.cur) });
    expect(outcome).toBe('pulled');
    expect(d.calls.filter((c) => !c.startsWith('info'))).toEqual(['pull vda bandwidth=3']);
    expect(seen).toEqual([0, 60]);
  });

  it('attaches to a pull that already runs (an earlier caller died) instead of starting another', async () => {
    const d = new PullingDomain([pull(40), pull(80), null]);
    expect(await pullBacking(d.asDomain(), 'vda', { pollMs: 1 })).toBe('attached');
    expect(d.calls.some((c) => c.startsWith('pull'))).toBe(false);
  });

  it('leaves a disk alone that is already flat (a pull completed while nobody watched)', async () => {
    const d = new PullingDomain([null]);
    d.xml = FLAT;
    expect(await pullBacking(d.asDomain(), 'vda', { pollMs: 1 })).toBe('already-flat');
    expect(d.calls).toEqual(['info vda']);
  });

  it('refuses a disk on which another kind of block job runs, and leaves that job alone', async () => {
    const d = new PullingDomain([job(10, 100, 4)]);
    await expect(pullBacking(d.asDomain(), 'vda', { pollMs: 1 })).rejects.toThrow(/active-commit job, not a pull/);
    expect(d.calls).toEqual(['info vda']);
  });

  it('reports a pull that ended with the backing chain still there (failed or cancelled)', async () => {
    const d = new PullingDomain([null, pull(10), null], false);
    await expect(pullBacking(d.asDomain(), 'vda', { pollMs: 1 })).rejects.toThrow(/still has its backing chain/);
  });

  it('on abort, cancels the pull (without pivot) and rejects with the reason', async () => {
    const d = new PullingDomain([null, pull(1)]);
    const ac = new AbortController();
    const reason = new Error('cancelled by request');
    setTimeout(() => ac.abort(reason), 20);
    await expect(pullBacking(d.asDomain(), 'vda', { pollMs: 2, signal: ac.signal })).rejects.toBe(reason);
    expect(d.calls.filter((c) => !c.startsWith('info'))).toEqual(['pull vda bandwidth=0', 'abort vda pivot=false']);
  });

  it('with cancelJobOnAbort false, stops following and leaves the job running', async () => {
    const d = new PullingDomain([pull(1)]);
    await expect(
      pullBacking(d.asDomain(), 'vda', { pollMs: 2, signal: AbortSignal.timeout(20), cancelJobOnAbort: false }),
    ).rejects.toThrow();
    expect(d.calls.some((c) => c.startsWith('abort'))).toBe(false);
  });

  it('starts nothing when the signal has already aborted', async () => {
    const d = new PullingDomain([null]);
    await expect(pullBacking(d.asDomain(), 'vda', { signal: AbortSignal.abort(new Error('gone')) })).rejects.toThrow('gone');
    expect(d.calls).toEqual([]);
  });
});

describe('followPull', () => {
  it('without any job, resolves for a flat disk and rejects for one still on its chain', async () => {
    const flat = new PullingDomain([null]);
    flat.xml = FLAT;
    await expect(followPull(flat.asDomain(), 'vda', { pollMs: 1 })).resolves.toBeUndefined();
    await expect(followPull(new PullingDomain([null], false).asDomain(), 'vda', { pollMs: 1 })).rejects.toBeInstanceOf(BlockJobError);
  });
});
