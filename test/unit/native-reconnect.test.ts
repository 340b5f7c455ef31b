/**
 * Waiting for libvirtd to come back (native/reconnect.ts), on a fake clock, and which
 * libvirt functions a reconnect may repeat.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FIRST_RETRY_MS,
  LibvirtError,
  LONGEST_RETRY_MS,
  REPEATABLE_FUNCTIONS,
  retryWhileUnreachable,
  VIR_ERR_NO_DOMAIN,
  VIR_ERR_SYSTEM_ERROR,
  VIR_FROM_QEMU,
  VIR_FROM_RPC,
} from '../../native/index.js';

/** What virConnectOpen reports while libvirtd is down (libvirt 9.0). */
const unreachable = () =>
  new LibvirtError({
    code: VIR_ERR_SYSTEM_ERROR,
    domain: VIR_FROM_RPC,
    message: "Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused",
    operation: 'virConnectOpen',
  });

/** An attempt that fails as unreachable `failures` times, then succeeds; records when it ran. */
function flakyOpen(failures: number): { attempt: () => Promise<string>; times: number[] } {
  const times: number[] = [];
  return {
    times,
    attempt: async () => {
      times.push(Date.now());
      if (times.length <= failures) throw unreachable();
      return 'connected';
    },
  };
}

describe('retryWhileUnreachable', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('retries an unreachable daemon with doubling pauses, capped, until it answers', async () => {
    const { attempt, times } = flakyOpen(6);
    const result = retryWhileUnreachable(attempt, 60_000);
    await vi.runAllTimersAsync();
    await expect(result).resolves.toBe('connected');
    const pauses = times.slice(1).map((t, i) => t - times[i]!);
    expect(pauses).toEqual([FIRST_RETRY_MS, 200, 400, 800, LONGEST_RETRY_MS, LONGEST_RETRY_MS]);
  });

  it('gives up with the last error once the deadline has passed, trying once more right at it', async () => {
    const { attempt, times } = flakyOpen(Infinity);
    const result = retryWhileUnreachable(attempt, 2_500);
    const settled = expect(result).rejects.toThrow(/Failed to connect socket/);
    await vi.runAllTimersAsync();
    await settled;
    expect(times.at(-1)).toBe(2_500);
    expect(times).toEqual([0, 100, 300, 700, 1_500, 2_500]);
  });

  it('makes exactly one attempt when the deadline is now', async () => {
    const { attempt, times } = flakyOpen(Infinity);
    await expect(retryWhileUnreachable(attempt, Date.now())).rejects.toThrow(LibvirtError);
    expect(times).toHaveLength(1);
  });

  it('rejects at once with an error that is not about reaching libvirtd', async () => {
    let attempts = 0;
    const noDomain = new LibvirtError({ code: VIR_ERR_NO_DOMAIN, domain: VIR_FROM_QEMU, message: 'no domain', operation: 'x' });
    const result = retryWhileUnreachable(async () => {
      attempts++;
      throw noDomain;
    }, 60_000);
    await expect(result).rejects.toBe(noDomain);
    expect(attempts).toBe(1);
  });
});

describe('REPEATABLE_FUNCTIONS', () => {
  it('holds reads and thaw, and none of the calls whose effect a lost connection leaves unknown', () => {
    const repeatable = ['virDomainLookupByUUIDString', 'virDomainGetXMLDesc', 'virDomainGetBlockJobInfo', 'virDomainGetJobStats', 'virDomainFSThaw'] as const;
    for (const read of repeatable) {
      expect(REPEATABLE_FUNCTIONS.has(read)).toBe(true);
    }
    const sideEffects = [
      'virDomainDefineXMLFlags',
      'virDomainSuspend',
      'virDomainResume',
      'virDomainCreate',
      'virDomainShutdown',
      'virDomainDestroy',
      'virDomainUndefineFlags',
      'virDomainFSFreeze',
      'virDomainSnapshotCreateXML',
      'virDomainBlockCommit',
      'virDomainBlockJobAbort',
      'virDomainBlockPull',
      'virDomainBackupBegin',
      'virDomainAbortJob',
      'virDomainCheckpointCreateXML',
      'virDomainCheckpointDelete',
    ] as const;
    for (const call of sideEffects) expect(REPEATABLE_FUNCTIONS.has(call), call).toBe(false);
  });
});
