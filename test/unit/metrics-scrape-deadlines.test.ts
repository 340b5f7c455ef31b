import { describe, expect, it } from 'vitest';
import { fakeReplicas, fakeTarget, metricsWith, UUID_A } from '../support/metrics-fakes.js';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.js';

const DEADLINES = { freeSpaceMs: 100, domainsMs: 150, policiesMs: 150 };

async function timedScrape(metrics: ReturnType<typeof metricsWith>) {
  const started = Date.now();
  const families = parsePrometheusText(await metrics.registry.metrics());
  return { families, ms: Date.now() - started };
}

describe('scrape-time reads of repository targets', () => {
  it('leave out a target that hangs or fails, count it, and never hold the scrape or pile calls up', async () => {
    const local = fakeTarget('local', { points: { [UUID_A]: { domain: 'vm-a', created_at: '2026-12-01T09:00:00.000Z' } } });
    const hung = fakeTarget('hung', { space: 'hang' });
    const broken = fakeTarget('broken', { space: 'fail' });
    const metrics = metricsWith({ targets: [local.target, hung.target, broken.target], replicas: fakeReplicas(['hung', 'broken']), timeouts: DEADLINES });

    const first = await timedScrape(metrics);
    const second = await timedScrape(metrics);
    for (const { families, ms } of [first, second]) {
      expect(ms).toBeLessThan(1000);
      expect(valueOf(families, 'virt_dr_target_free_bytes', { target: 'local' })).toBe(1000);
      expect(valueOf(families, 'virt_dr_target_free_bytes', { target: 'hung' })).toBeUndefined();
      expect(valueOf(families, 'virt_dr_target_total_bytes', { target: 'broken' })).toBeUndefined();
    }
    expect(valueOf(first.families, 'virt_dr_target_errors_total', { target: 'hung' })).toBe(1);
    expect(valueOf(second.families, 'virt_dr_target_errors_total', { target: 'hung' })).toBe(2);
    expect(valueOf(second.families, 'virt_dr_target_errors_total', { target: 'broken' })).toBe(2);
    expect(valueOf(second.families, 'virt_dr_target_errors_total', { target: 'local' })).toBe(0);
    // The second scrape waited on the first call still hanging instead of making another.
    expect(hung.calls.freeSpace).toBe(1);
    expect(broken.calls.freeSpace).toBe(2);
  });

  it('leave out the per-domain series when the primary\'s points cannot be read in time', async () => {
    const local = fakeTarget('local', { points: 'hang' });
    const metrics = metricsWith({ targets: [local.target], replicas: fakeReplicas([], { [UUID_A]: 3 }), timeouts: DEADLINES });
    const { families, ms } = await timedScrape(metrics);
    expect(ms).toBeLessThan(1000);
    expect(families.get('virt_dr_rpo_seconds')!.samples).toEqual([]);
    expect(families.get('virt_dr_last_success_timestamp_seconds')!.samples).toEqual([]);
    expect(valueOf(families, 'virt_dr_target_free_bytes', { target: 'local' })).toBe(1000);
    expect(valueOf(families, 'virt_dr_target_errors_total', { target: 'local' })).toBe(1);
    await timedScrape(metrics);
    expect(local.calls.listDomains).toBe(1);
  });
});
