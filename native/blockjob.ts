/**
 * Following block jobs by polling. libvirt is never asked to block waiting for a job:
 * getBlockJobInfo is polled with an abortable sleep in between.
 */
import { diskHasBacking } from './disk-backing.js';
import type { BlockJobInfo, Domain } from './domain.js';
import { BlockJobError, LibvirtError, VIR_ERR_BLOCK_COPY_ACTIVE, VIR_ERR_OPERATION_INVALID } from './errors.js';

export interface WaitForBlockJobOptions {
  /** 'gone': the job has disappeared (intermediate commit finished, or job ended). 'ready':
   *  cur == end && end > 0 (an active commit/copy waiting for its pivot). */
  until: 'ready' | 'gone';
  signal?: AbortSignal;
  /**
   * Longest poll interval, default 500 ms. Polling starts at FIRST_POLL_MS and doubles up
   * to it: most of the agent's commits are small and end within tens of ms, which a fixed
   * 500 ms interval turned into half a second per backup (bench/, incremental time).
   */
  pollMs?: number;
  /** Called with every observed job state. */
  onProgress?: (info: BlockJobInfo) => void;
}

/** Sleep that rejects with `signal.reason` as soon as the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The first poll of a block job; each next one waits twice as long, up to `pollMs`. */
export const FIRST_POLL_MS = 10;

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason;
}

/**
 * Poll until the block job on `disk` is ready (resolves with its last info) or gone
 * (resolves with null). Waiting for 'ready' when the job disappears rejects with a
 * BlockJobError (the job failed or was cancelled). Rejects with the abort reason when
 * `signal` aborts.
 */
export async function waitForBlockJob(
  domain: Domain,
  disk: string,
  opts: WaitForBlockJobOptions,
): Promise<BlockJobInfo | null> {
  const pollMs = opts.pollMs ?? 500;
  let delayMs = Math.min(FIRST_POLL_MS, pollMs);
  for (;;) {
    throwIfAborted(opts.signal);
    const info = await domain.getBlockJobInfo(disk);
    throwIfAborted(opts.signal);
    if (info === null) {
      if (opts.until === 'gone') return null;
      throw new BlockJobError(`block job on ${domain.name}/${disk} disappeared before it was ready`, disk);
    }
    opts.onProgress?.(info);
    if (opts.until === 'ready' && info.end > 0 && info.cur === info.end) return info;
    await abortableSleep(delayMs, opts.signal);
    delayMs = Math.min(delayMs * 2, pollMs);
  }
}

export interface CommitOptions {
  signal?: AbortSignal;
  pollMs?: number;
  onProgress?: (info: BlockJobInfo) => void;
  bandwidthBytesPerSec?: number;
  /**
   * On abort (signal) while the job runs, cancel the block job (best effort) before
   * rejecting. Default true: an aborted backup should not leave a job behind.
   */
  cancelJobOnAbort?: boolean;
}

export interface ActiveCommitOptions extends CommitOptions {
  /** Commit target; default null = the immediate backing file of the active layer (shallow). */
  base?: string | null;
  /** How many times to retry a pivot refused as "not ready" (default 10, pollMs apart). */
  pivotRetries?: number;
}

async function cancelQuietly(domain: Domain, disk: string): Promise<void> {
  try {
    await domain.abortBlockJob(disk, { pivot: false });
  } catch {
    // best effort: the job may already be gone
  }
}

function isNotReadyForPivot(err: unknown): boolean {
  return (
    err instanceof LibvirtError &&
    (err.code === VIR_ERR_BLOCK_COPY_ACTIVE || err.code === VIR_ERR_OPERATION_INVALID) &&
    /not ready/i.test(err.message)
  );
}

/**
 * Merge the active layer of `disk` into its backing file and pivot to it:
 * virDomainBlockCommit(ACTIVE [+SHALLOW when base is null]) → poll until ready →
 * virDomainBlockJobAbort(PIVOT), retrying while libvirt says "not ready for pivot" →
 * poll until the job is gone.
 */
export async function commitActiveWithPivot(domain: Domain, disk: string, opts: ActiveCommitOptions = {}): Promise<void> {
  const base = opts.base ?? null;
  const pollMs = opts.pollMs ?? 500;
  throwIfAborted(opts.signal);
  await domain.blockCommit(disk, {
    base,
    top: null,
    active: true,
    shallow: base === null,
    ...(opts.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: opts.bandwidthBytesPerSec } : {}),
  });
  try {
    await waitForBlockJob(domain, disk, { until: 'ready', pollMs, ...pick(opts) });
    const retries = opts.pivotRetries ?? 10;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(opts.signal);
      try {
        await domain.abortBlockJob(disk, { pivot: true });
        break;
      } catch (err) {
        if (!isNotReadyForPivot(err) || attempt >= retries) throw err;
        await abortableSleep(pollMs, opts.signal);
      }
    }
    await waitForBlockJob(domain, disk, { until: 'gone', pollMs, ...pick(opts) });
  } catch (err) {
    if (opts.signal?.aborted && opts.cancelJobOnAbort !== false) await cancelQuietly(domain, disk);
    throw err;
  }
}

/**
 * Merge `top` into `base` below the active layer (both must be in the chain of `disk`):
 * virDomainBlockCommit(base, top) → poll until the job is gone. Then checks the live XML
 * no longer references `top` (when given as a path), because a job that failed also
 * just disappears.
 */
export async function commitIntermediate(
  domain: Domain,
  disk: string,
  base: string,
  top: string,
  opts: CommitOptions = {},
): Promise<void> {
  const pollMs = opts.pollMs ?? 500;
  throwIfAborted(opts.signal);
  await domain.blockCommit(disk, {
    base,
    top,
    active: false,
    ...(opts.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: opts.bandwidthBytesPerSec } : {}),
  });
  try {
    await waitForBlockJob(domain, disk, { until: 'gone', pollMs, ...pick(opts) });
  } catch (err) {
    if (opts.signal?.aborted && opts.cancelJobOnAbort !== false) await cancelQuietly(domain, disk);
    throw err;
  }
  if (top.startsWith('/')) {
    const xml = await domain.getXml();
    if (xml.includes(`file='${xmlEscape(top)}'`) || xml.includes(`file="${xmlEscape(top)}"`)) {
      throw new BlockJobError(`commit of ${top} into ${base} ended but ${top} is still in the backing chain`, disk);
    }
  }
}

export interface PullOptions {
  /** Speed limit in MiB/s for a pull this call starts (0/omitted: unlimited); a job it attaches to keeps its own. */
  bandwidthMiBps?: number;
  signal?: AbortSignal;
  pollMs?: number;
  onProgress?: (info: BlockJobInfo) => void;
  /**
   * On abort (signal), cancel the pull job (best effort) before rejecting. Default true:
   * the guest goes on on its overlay and loses nothing; the data pulled so far stays.
   */
  cancelJobOnAbort?: boolean;
}

/**
 * How pullBacking got the disk flat: it started the pull; it found one running (started
 * by an earlier caller that died, e.g. before an agent restart: QEMU went on with it) and
 * followed it; or the disk already had no backing (a pull completed while nobody, or no
 * libvirtd, was watching).
 */
export type PullOutcome = 'pulled' | 'attached' | 'already-flat';

/**
 * Make `disk` (its target, e.g. `vda`) independent of its backing chain by a block pull,
 * and resolve once its live XML shows no backing. Safe to call again at any time for the
 * same disk: a pull already running is followed rather than doubled, and a disk already
 * flat is left alone. A job of another kind on the disk is refused (BlockJobError).
 */
export async function pullBacking(domain: Domain, disk: string, opts: PullOptions = {}): Promise<PullOutcome> {
  throwIfAborted(opts.signal);
  const running = await domain.getBlockJobInfo(disk);
  if (running !== null) {
    assertPull(domain, disk, running);
    await followPull(domain, disk, opts);
    return 'attached';
  }
  if (!diskHasBacking(await domain.getXml(), disk)) return 'already-flat';
  throwIfAborted(opts.signal);
  await domain.blockPull(disk, opts.bandwidthMiBps !== undefined ? { bandwidthMiBps: opts.bandwidthMiBps } : {});
  await followPull(domain, disk, opts);
  return 'pulled';
}

/**
 * Follow the pull job on `disk` until it is gone, then check the outcome in the live XML:
 * resolves when the disk has no backing left, rejects with BlockJobError when it still
 * has one (the pull failed or was cancelled, or none ran). Follows a job it did not start
 * just as well, which is how a restarted caller attaches to a pull that went on in QEMU.
 */
export async function followPull(domain: Domain, disk: string, opts: PullOptions = {}): Promise<void> {
  const pollMs = opts.pollMs ?? 500;
  try {
    await waitForBlockJob(domain, disk, {
      until: 'gone',
      pollMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (info) => {
        assertPull(domain, disk, info);
        opts.onProgress?.(info);
      },
    });
  } catch (err) {
    if (opts.signal?.aborted && opts.cancelJobOnAbort !== false) await cancelQuietly(domain, disk);
    throw err;
  }
  if (diskHasBacking(await domain.getXml(), disk)) {
    throw new BlockJobError(`no pull runs on ${domain.name}/${disk} and the disk still has its backing chain`, disk);
  }
}

function assertPull(domain: Domain, disk: string, info: BlockJobInfo): void {
  if (info.kind !== 'pull') {
    throw new BlockJobError(`a ${info.kind} job, not a pull, runs on ${domain.name}/${disk}`, disk);
  }
}

function pick(opts: CommitOptions): Pick<WaitForBlockJobOptions, 'signal' | 'onProgress'> {
  return {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  };
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}
