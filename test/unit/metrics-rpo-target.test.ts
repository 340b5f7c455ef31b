import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { largestDelayS, longestGapMs, rpoTargetMemo, rpoTargetSeconds } from '../../src/metrics/rpo-target.js';
import type { Plan, Schedule } from '../../src/policy/policy.js';
import { compileSchedule } from '../../src/policy/schedule/compile.js';
import { fakeTarget, metricsWith, UUID_A, UUID_B } from '../support/metrics-fakes.js';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.js';

const HOUR_S = 3600;
const NO_SECONDARIES: Plan = { primary: 'local', secondaries: [], copies: 1 };
const TWO_SECONDARIES: Plan = { primary: 'local', secondaries: [{ target: 'nas', delay_s: 300 }, { target: 'dr', delay_s: 900 }], copies: 3 };
const gapS = (schedule: Schedule, from: string) => longestGapMs(compileSchedule(schedule), Date.parse(from)) / 1000;

describe('the RPO target of a policy', () => {
  it('is the interval, or the widest gap of a calendar schedule, plus the largest secondary delay', () => {
    expect(rpoTargetSeconds({ schedule: { interval_s: 3600 }, plan: NO_SECONDARIES }, Date.now())).toBe(3600);
    expect(rpoTargetSeconds({ schedule: { interval_s: 3600 }, plan: TWO_SECONDARIES }, Date.now())).toBe(3600 + 900);
    expect(largestDelayS(NO_SECONDARIES)).toBe(0);
    // A weekend without backups: Friday 17:59 to Monday 09:00, not the minute between two slots.
    expect(gapS({ cron: '* 9-17 * * 1-5', tz: 'UTC' }, '2026-12-02T00:00:00Z')).toBe(63 * HOUR_S + 60);
    expect(gapS({ weekly: { days: ['wed'], time: '22:00', tz: 'Asia/Shanghai' } }, '2026-12-02T00:00:00Z')).toBe(7 * 24 * HOUR_S);
    expect(gapS({ weekly: { days: ['mon', 'tue'], time: '22:00', tz: 'UTC' } }, '2026-12-02T00:00:00Z')).toBe(6 * 24 * HOUR_S);
    // The 15th to the 1st of a 31-day month is the wider of a monthly pair.
    expect(gapS({ cron: '0 22 1,15 * *', tz: 'UTC' }, '2026-12-02T00:00:00Z')).toBe(17 * 24 * HOUR_S);
  });

  it('sees the coming week\'s DST change: a nightly backup across the fall-back is 25 h apart', () => {
    const nightly: Schedule = { cron: '30 1 * * *', tz: 'Europe/Berlin' };
    expect(gapS(nightly, '2026-10-20T00:00:00Z')).toBe(25 * HOUR_S);
    expect(gapS(nightly, '2026-12-01T00:00:00Z')).toBe(24 * HOUR_S);
  });

  it('has none without a schedule, and is remembered per schedule and plan for the day', () => {
    expect(rpoTargetSeconds({ schedule: null, plan: TWO_SECONDARIES }, Date.now())).toBeNull();
    const memo = rpoTargetMemo();
    const now = Date.parse('2026-12-02T10:00:00Z');
    expect(memo({ schedule: { interval_s: 60 }, plan: NO_SECONDARIES }, now)).toBe(60);
    expect(memo({ schedule: { interval_s: 60 }, plan: TWO_SECONDARIES }, now)).toBe(960);
    expect(memo({ schedule: null, plan: NO_SECONDARIES }, now)).toBeNull();
  });
});

describe('virt_dr_rpo_target_seconds', () => {
  const primary = fakeTarget('local', {
    points: { [UUID_A]: { domain: 'vm-a', created_at: '2026-12-01T09:00:00.000Z' }, [UUID_B]: { domain: 'vm-b', created_at: '2026-12-01T09:00:00.000Z' } },
  });
  const scrape = async (metrics: ReturnType<typeof metricsWith>) => parsePrometheusText(await metrics.registry.metrics());

  it('is read per domain from its policy at scrape time; a domain without a schedule has no series', async () => {
    const policies: Record<string, { schedule: Schedule | null; plan: Plan }> = {
      [UUID_A]: { schedule: { interval_s: 3600 }, plan: TWO_SECONDARIES },
      [UUID_B]: { schedule: null, plan: TWO_SECONDARIES },
    };
    const families = await scrape(metricsWith({ targets: [primary.target], policyOf: async (uuid) => policies[uuid]! }));
    expect(valueOf(families, 'virt_dr_rpo_target_seconds', { domain: 'vm-a', domain_uuid: UUID_A })).toBe(4500);
    expect(families.get('virt_dr_rpo_target_seconds')!.samples).toHaveLength(1);
  });

  it('leaves out a domain whose policy fails, and all of them when the reads hang, without holding the scrape or piling reads up', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const failing = metricsWith({
      targets: [primary.target],
      log,
      policyOf: async (uuid) => {
        if (uuid === UUID_B) throw new Error('project layer does not resolve');
        return { schedule: { interval_s: 600 }, plan: NO_SECONDARIES };
      },
    });
    for (let i = 0; i < 2; i++) {
      const families = await scrape(failing);
      expect(valueOf(families, 'virt_dr_rpo_target_seconds', { domain_uuid: UUID_A })).toBe(600);
      expect(valueOf(families, 'virt_dr_rpo_target_seconds', { domain_uuid: UUID_B })).toBeUndefined();
      expect(valueOf(families, 'virt_dr_rpo_seconds', { domain_uuid: UUID_B })).toBeUndefined();
    }
    // Once per outage in the log, not once per scrape.
    expect(lines.filter((line) => line.includes('policies did not resolve'))).toHaveLength(1);

    let policyReads = 0;
    const hung = metricsWith({
      targets: [primary.target],
      policyOf: () => {
        policyReads += 1;
        return new Promise(() => undefined);
      },
      timeouts: { freeSpaceMs: 100, domainsMs: 150, policiesMs: 150 },
    });
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const families = await scrape(hung);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(families.get('virt_dr_rpo_target_seconds')!.samples).toEqual([]);
      expect(valueOf(families, 'virt_dr_target_free_bytes', { target: 'local' })).toBe(1000);
    }
    // The second scrape waited on the reads still hanging instead of piling new ones up.
    expect(policyReads).toBe(2);
  });
});
