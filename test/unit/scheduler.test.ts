import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BackupRequest } from '../../src/backup/request.js';
import { DomainBusy, DomainNotRunning } from '../../src/errors.js';
import type { DomainRef } from '../../src/libvirt/hypervisor.js';
import type { Policy } from '../../src/policy/policy.js';
import { InvalidScheduleRecord, parseScheduleRecord, type ScheduleRecord } from '../../src/scheduler/schedule-record.js';
import { BUSY_RETRY_MS, Scheduler } from '../../src/scheduler/scheduler.js';
import { silentLog } from '../support/job-runner-fakes.js';

const VM: DomainRef = { name: 'vm', uuid: '5c8e0000-0000-4000-8000-000000000001' };
const policy = (overrides: Partial<Policy> = {}): Policy => ({
  schedule: { interval_s: 60 },
  missed: 'catch_up',
  jitter_s: 0,
  retention: null,
  chain_length: 0,
  tiers: { fast: { target: 'local', capacity: null }, slow: null, manual: { target: 'local', capacity: null } },
  plan: { primary: 'local', secondaries: [], copies: 1 },
  quiesce: 'auto',
  engine: 'auto',
  exclude_disks: [],
  ...overrides,
});

/** A scheduler on fake timers, whose submissions are recorded (and may be refused). */
function harness(options: { policy?: Policy; domains?: DomainRef[]; refuse?: (n: number) => Error | null } = {}) {
  // In memory: fake timers do not wait for real file I/O. The record's parser is tested below.
  const saved = new Map<string, string>();
  const records = {
    load: async (uuid: string) => (saved.has(uuid) ? parseScheduleRecord(saved.get(uuid)!) : null),
    save: async (uuid: string, record: ScheduleRecord) => void saved.set(uuid, JSON.stringify(record)),
  };
  const submitted: { domain: string; uniqueId: string; request: BackupRequest; at: string }[] = [];
  const make = () =>
    new Scheduler({
      listDomains: async () => options.domains ?? [VM],
      policyOf: async () => options.policy ?? policy(),
      submitBackup: async (domain, request, uniqueId) => {
        const refusal = options.refuse?.(submitted.length) ?? null;
        if (refusal) throw refusal;
        submitted.push({ domain: domain.name, uniqueId, request, at: new Date().toISOString() });
        return { job_id: `job-${submitted.length}` };
      },
      records,
      now: () => new Date(),
      log: silentLog,
      rescanMs: 60_000,
    });
  return { make, submitted, records };
}

/** Lets the scheduler's timers and promise chains run up to `ms` later. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-11-29T21:59:30.000Z'));
});
afterEach(() => vi.useRealTimers());

describe('the scheduler', () => {
  it('runs each slot once, at slot + jitter, as a scheduled backup by the policy\'s settings', async () => {
    const h = harness({ policy: policy({ quiesce: 'agent', engine: 'checkpoint', exclude_disks: ['vdb'] }) });
    const scheduler = h.make();
    await scheduler.start();
    expect(h.submitted).toEqual([]);
    await advance(30_000);
    await advance(120_000);
    expect(h.submitted.map((s) => s.at)).toEqual(['2026-11-29T22:00:00.000Z', '2026-11-29T22:01:00.000Z', '2026-11-29T22:02:00.000Z']);
    expect(h.submitted[0]).toMatchObject({
      uniqueId: `schedule:${VM.uuid}:2026-11-29T22:00:00.000Z`,
      request: { mode: 'auto', kind: 'scheduled', quiesce: 'agent', engine: 'checkpoint', excludeDisks: ['vdb'] },
    });
    await scheduler.stop();
  });

  it('after a restart just before a due time, runs the slot once when it comes', async () => {
    const h = harness();
    const first = h.make();
    await first.start();
    await advance(20_000);
    await first.stop();
    const second = h.make();
    await second.start();
    await advance(15_000);
    expect(h.submitted.map((s) => s.at)).toEqual(['2026-11-29T22:00:00.000Z']);
    await second.stop();
  });

  it('after a restart just after a due time, catches the missed slot up once, or skips it', async () => {
    for (const missed of ['catch_up', 'skip'] as const) {
      vi.setSystemTime(new Date('2026-11-29T21:59:30.000Z'));
      const h = harness({ policy: policy({ missed }) });
      const first = h.make();
      await first.start();
      await first.stop();
      // Down across 22:00 and 22:01; back at 22:01:10.
      vi.setSystemTime(new Date('2026-11-29T22:01:10.000Z'));
      const second = h.make();
      await second.start();
      await advance(1_000);
      expect(h.submitted.map((s) => s.uniqueId.slice(-24))).toEqual(missed === 'catch_up' ? ['2026-11-29T22:01:00.000Z'] : []);
      await advance(50_000);
      expect(h.submitted.at(-1)?.uniqueId.slice(-24)).toBe('2026-11-29T22:02:00.000Z');
      await second.stop();
    }
  });

  it('submits a claimed slot again after a crash, with the same unique id, so the job runner hands back one job', async () => {
    const h = harness();
    await h.records.save(VM.uuid, {
      domain_uuid: VM.uuid,
      last_slot: '2026-11-29T21:59:00.000Z',
      next_slot: '2026-11-29T22:00:00.000Z',
      pending_slot: '2026-11-29T21:59:00.000Z',
      last_job_id: null,
      last_error: null,
    });
    const scheduler = h.make();
    await scheduler.start();
    expect(h.submitted.map((s) => s.uniqueId)).toEqual([`schedule:${VM.uuid}:2026-11-29T21:59:00.000Z`]);
    expect((await h.records.load(VM.uuid))?.pending_slot).toBeNull();
    await scheduler.stop();
  });

  it('never starts a busy domain\'s backup: the slot waits and runs once the domain is free', async () => {
    const h = harness({ refuse: () => (Date.now() < Date.parse('2026-11-29T22:00:45.000Z') ? new DomainBusy('restore running') : null) });
    const scheduler = h.make();
    await scheduler.start();
    await advance(30_000);
    expect(h.submitted).toEqual([]);
    await advance(BUSY_RETRY_MS * 2);
    // 22:00's backup starts late, once the domain is free; 22:01's on time: each slot once.
    expect(h.submitted.map((s) => [s.uniqueId.slice(-24), s.at])).toEqual([
      ['2026-11-29T22:00:00.000Z', '2026-11-29T22:01:00.000Z'],
      ['2026-11-29T22:01:00.000Z', '2026-11-29T22:01:00.000Z'],
    ]);
    await scheduler.stop();
  });

  it('skips a slot the domain cannot take (shut off), logs why, and runs the next', async () => {
    const h = harness({ refuse: () => (Date.now() < Date.parse('2026-11-29T22:00:30.000Z') ? new DomainNotRunning('domain vm is shutoff') : null) });
    const scheduler = h.make();
    await scheduler.start();
    await advance(30_000);
    expect((await h.records.load(VM.uuid))).toMatchObject({ last_slot: '2026-11-29T22:00:00.000Z', pending_slot: null, last_error: 'domain vm is shutoff' });
    await advance(60_000);
    expect(h.submitted.map((s) => s.uniqueId.slice(-24))).toEqual(['2026-11-29T22:01:00.000Z']);
    await scheduler.stop();
  });

  it('spreads 500 domains due at 22:00 over the jitter window', async () => {
    const domains = Array.from({ length: 500 }, (_, i) => ({ name: `vm-${i}`, uuid: `0000${String(i).padStart(4, '0')}-1111-4222-8333-${String(i * 7919).padStart(12, '0')}` }));
    const h = harness({ domains, policy: policy({ schedule: { weekly: { days: ['sun'], time: '22:00', tz: 'UTC' } }, jitter_s: 300 }) });
    const scheduler = h.make();
    await scheduler.start();
    await advance(31 * 60_000);
    expect(h.submitted).toHaveLength(500);
    const perMinute = new Map<string, number>();
    for (const s of h.submitted) perMinute.set(s.at.slice(11, 16), (perMinute.get(s.at.slice(11, 16)) ?? 0) + 1);
    // Five minutes of window: no minute takes more than about a fifth of the domains twice over.
    expect([...perMinute.keys()].sort()).toEqual(['22:00', '22:01', '22:02', '22:03', '22:04', '22:05'].slice(0, perMinute.size));
    expect(Math.max(...perMinute.values())).toBeLessThan(150);
    await scheduler.stop();
  });
});

describe('the schedule record', () => {
  it('reads what the scheduler wrote, and refuses a damaged one', () => {
    const record: ScheduleRecord = { domain_uuid: VM.uuid, last_slot: '2026-11-29T22:00:00.000Z', next_slot: '2026-11-29T22:01:00.000Z', pending_slot: null, last_job_id: 'j', last_error: null };
    expect(parseScheduleRecord(JSON.stringify(record))).toEqual(record);
    expect(() => parseScheduleRecord(JSON.stringify({ ...record, next_slot: 'tomorrow' }))).toThrow(InvalidScheduleRecord);
    expect(() => parseScheduleRecord(JSON.stringify({ ...record, domain_uuid: '../etc' }))).toThrow(InvalidScheduleRecord);
    expect(() => parseScheduleRecord('[]')).toThrow(InvalidScheduleRecord);
  });
});
