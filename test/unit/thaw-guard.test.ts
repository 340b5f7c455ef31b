import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ThawGuard } from '../../src/backup/thaw-guard.js';
import type { Hypervisor, HypervisorDomain } from '../../src/libvirt/hypervisor.js';

const UUID = '8a789240-1e74-4bc0-8be7-69d54d91cffd';

/** A hypervisor whose one domain only counts thaws; `onThaw` runs inside each thaw. */
function fakeHypervisor(onThaw: (calls: number) => void = () => {}): { hypervisor: Hypervisor; thaws: () => number } {
  let calls = 0;
  const domain = {
    uuid: UUID,
    name: 'fake',
    thawFilesystems: async () => {
      calls++;
      onThaw(calls);
      return 0;
    },
  } as unknown as HypervisorDomain;
  const hypervisor = { lookup: async () => domain } as unknown as Hypervisor;
  return { hypervisor, thaws: () => calls };
}

const settings = { attempts: 3, gapMs: 5, thawTimeoutSeconds: 1 };
const log = pino({ level: 'silent' });
const settle = () => new Promise((r) => setTimeout(r, 200));

describe('ThawGuard', () => {
  it('thaws a watched domain `attempts` times, in one loop however often it is watched', async () => {
    let concurrent = 0;
    let most = 0;
    const { hypervisor, thaws } = fakeHypervisor();
    const lookup = hypervisor.lookup.bind(hypervisor);
    hypervisor.lookup = async (id) => {
      most = Math.max(most, ++concurrent);
      await new Promise((r) => setTimeout(r, 1));
      concurrent--;
      return lookup(id);
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
});
