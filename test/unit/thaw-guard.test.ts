import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ThawGuard } from '../../src/backup/thaw-guard.js';
import { HypervisorError } from '../../src/errors.js';
import type { Hypervisor, HypervisorDomain } from '../../src/libvirt/hypervisor.js';

const UUID = '8a789240-1e74-4bc0-8be7-69d54d91cffd';

/**
 * A hypervisor whose one domain only counts thaws; `onThaw` runs inside each thaw and may
 * throw. The guard must use sessions of its own: the shared connection's lookup throws.
 */
function fakeHypervisor(onThaw: (calls: number) => void = () => {}) {
  let calls = 0;
  const sessions = { opened: 0, closed: 0, failOpen: 0 };
  const domain = {
    uuid: UUID,
    name: 'fake',
    thawFilesystems: async () => {
      calls++;
      onThaw(calls);
      return 0;
    },
  } as unknown as HypervisorDomain;
  const session = { lookup: async () => domain, close: async () => void sessions.closed++ };
  const hypervisor = {
    lookup: async () => {
      throw new Error('the thaw guard used the shared connection');
    },
    openSession: async () => {
      if (sessions.failOpen > 0) {
        sessions.failOpen--;
        throw new HypervisorError('Failed to connect socket', true, null);
      }
      sessions.opened++;
      return { ...session };
    },
  } as unknown as Hypervisor & { lookup(id: string): Promise<HypervisorDomain> };
  return { hypervisor, thaws: () => calls, sessions };
}

const settings = { attempts: 3, gapMs: 5, thawTimeoutSeconds: 1 };
const log = pino({ level: 'silent' });
const settle = () => new Promise((r) => setTimeout(r, 200));

describe('ThawGuard', () => {
  it('thaws a watched domain `attempts` times, in one loop however often it is watched', async () => {
    let concurrent = 0;
    let most = 0;
    const { hypervisor, thaws } = fakeHypervisor();
    const openSession = hypervisor.openSession.bind(hypervisor);
    hypervisor.openSession = async () => {
      const session = await openSession();
      const lookup = session.lookup.bind(session);
      session.lookup = async (id) => {
        most = Math.max(most, ++concurrent);
        await new Promise((r) => setTimeout(r, 1));
        concurrent--;
        return lookup(id);
      };
      return session;
    };
    const guard = new ThawGuard(hypervisor, log, settings);
    guard.watch(UUID);
    await settle();
    expect(thaws()).toBe(3);
    guard.watch(UUID);
    guard.watch(UUID);
    await settle();
    // The second watch restarted the window of the first: one loop, 3 + 1 attempts.
    expect(thaws()).toBe(3 + 4);
    expect(most).toBe(1);
  });

  it('restarts the window when the domain is watched again, so a later late freeze is covered', async () => {
    let guard: ThawGuard;
    // A second freeze fails (and may land late) while the first window is in its 2nd attempt.
    const { hypervisor, thaws } = fakeHypervisor((n) => n === 2 && guard.watch(UUID));
    guard = new ThawGuard(hypervisor, log, settings);
    guard.watch(UUID);
    await settle();
    // 2 attempts of the first window, then a full window of 3 after the second watch.
    expect(thaws()).toBe(5);
  });

  it('starts a new window after the previous one ended', async () => {
    const { hypervisor, thaws } = fakeHypervisor();
    const guard = new ThawGuard(hypervisor, log, settings);
    guard.watch(UUID);
    await settle();
    guard.watch(UUID);
    await settle();
    expect(thaws()).toBe(6);
  });

  it('stops thawing once stopped', async () => {
    const { hypervisor, thaws } = fakeHypervisor();
    const guard = new ThawGuard(hypervisor, log, { ...settings, attempts: 100, gapMs: 20 });
    guard.watch(UUID);
    await new Promise((r) => setTimeout(r, 10));
    guard.stop();
    await settle();
    expect(thaws()).toBe(1);
  });

  it('thaws on a session of its own, opened at start and closed at stop', async () => {
    const { hypervisor, thaws, sessions } = fakeHypervisor();
    const guard = new ThawGuard(hypervisor, log, settings);
    await guard.start();
    expect(sessions).toMatchObject({ opened: 1, closed: 0 });
    guard.watch(UUID);
    await settle();
    expect(thaws()).toBe(3);
    expect(sessions.opened).toBe(1);
    await guard.stop();
    expect(sessions.closed).toBe(1);
  });

  it('opens a new session after a lost connection, and after a failed open', async () => {
    const { hypervisor, thaws, sessions } = fakeHypervisor((n) => {
      if (n === 1) throw new HypervisorError('End of file while reading data', true, null);
    });
    sessions.failOpen = 1;
    const guard = new ThawGuard(hypervisor, log, settings);
    await guard.start(); // the open fails: logged, not fatal
    expect(sessions.opened).toBe(0);
    guard.watch(UUID);
    await settle();
    // Attempt 1 opens, loses the connection and drops the session; 2 and 3 thaw on a new one.
    expect(thaws()).toBe(3);
    expect(sessions).toMatchObject({ opened: 2, closed: 1 });
    await guard.stop();
    expect(sessions.closed).toBe(2);
  });

  it('lets a thaw in flight end before closing its session at stop', async () => {
    let release: () => void = () => {};
    const { hypervisor, sessions } = fakeHypervisor();
    const guard = new ThawGuard(hypervisor, log, settings);
    const openSession = hypervisor.openSession.bind(hypervisor);
    hypervisor.openSession = async () => {
      const session = await openSession();
      session.lookup = () => new Promise((resolve) => (release = () => resolve({ thawFilesystems: async () => 0 } as unknown as HypervisorDomain)));
      return session;
    };
    await guard.start();
    guard.watch(UUID);
    await new Promise((r) => setTimeout(r, 10));
    const stopped = guard.stop();
    await new Promise((r) => setTimeout(r, 10));
    expect(sessions.closed).toBe(0);
    release();
    await stopped;
    expect(sessions.closed).toBe(1);
  });
});
