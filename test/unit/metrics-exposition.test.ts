import { describe, expect, it } from 'vitest';
import { JOB_ACTIONS } from '../../src/jobs/job.js';
import { backupOutcome, bytesWrittenBy, freezeOf, lastSuccesses } from '../../src/metrics/job-facts.js';
import { replicationLag, type DomainStatus } from '../../src/metrics/scrape-reads.js';
import { fakeReplicas, fakeTarget, jobRecord, metricsWith, UUID_A, UUID_B } from '../support/metrics-fakes.js';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.js';

const NEWEST_A = '2026-12-01T09:00:00.000Z';

/** An agent with a primary holding domain A, a secondary `dr` one minute behind, and jobs on record. */
function fedMetrics() {
  const primary = fakeTarget('local', { points: { [UUID_A]: { domain: 'vm-a', created_at: NEWEST_A } }, space: { free_bytes: 700, total_bytes: 1000 } });
  const dr = fakeTarget('dr', { space: { free_bytes: 9000, total_bytes: 10000 } });
  const onRecord = [
    jobRecord('backup', 'queued', { domain_uuid: UUID_B, domain_name: 'vm-b' }),
    jobRecord('restore', 'running'),
    jobRecord('verify', 'succeeded', { finished_at: '2026-12-01T08:00:00.000Z' }),
    jobRecord('verify', 'succeeded', { finished_at: '2026-12-01T08:30:00.000Z' }),
  ];
  const metrics = metricsWith(
    {
      targets: [primary.target, dr.target],
      replicas: fakeReplicas(['dr'], { [UUID_A]: 42.5 }, { [UUID_A]: { dr: '2026-12-01T08:59:00.000Z' } }),
    },
    onRecord,
  );
  const events = metrics.jobEvents();
  events.finished!(jobRecord('backup', 'succeeded', { result: { bytes: 1000, quiesce: 'agent', freeze_ms: 80 } }));
  events.finished!(jobRecord('backup', 'succeeded', { result: { bytes: 24, quiesce: 'suspend', freeze_ms: 3000 } }));
  events.finished!(jobRecord('backup', 'succeeded', { result: { bytes: 2, quiesce: 'none', freeze_ms: 0 } }));
  events.finished!(jobRecord('backup', 'failed'));
  events.finished!(jobRecord('restore', 'succeeded', { result: { bytes: 5000 } }));
  events.finished!(jobRecord('delete', 'succeeded', { result: { places: [{ bytes_written: 10 }, { bytes_written: 20 }] } }));
  events.finished!(jobRecord('verify', 'cancelled'));
  metrics.replicationReport('start', { domain_uuid: UUID_A, target: 'dr', location: 'ssh://dr', backup_ids: [] });
  metrics.replicationReport('end', { domain_uuid: UUID_A, target: 'dr', location: 'ssh://dr', backup_ids: [], bytes: 300 });
  metrics.replicationReport('error', { domain_uuid: UUID_A, target: 'dr', location: 'ssh://dr', backup_ids: [], failures: 1 });
  return metrics;
}

describe('the /metrics exposition', () => {
  it('names every family virt_dr_* with its type', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
    expect(types).toEqual({
      virt_dr_jobs_total: 'counter',
      virt_dr_domain_backups_total: 'counter',
      virt_dr_bytes_written_total: 'counter',
      virt_dr_freeze_seconds: 'histogram',
      virt_dr_target_errors_total: 'counter',
      virt_dr_replication_errors_total: 'counter',
      virt_dr_agent_info: 'gauge',
      virt_dr_jobs: 'gauge',
      virt_dr_last_success_timestamp_seconds: 'gauge',
      virt_dr_rpo_seconds: 'gauge',
      virt_dr_rpo_target_seconds: 'gauge',
      virt_dr_target_free_bytes: 'gauge',
      virt_dr_target_total_bytes: 'gauge',
      virt_dr_replication_lag_seconds: 'gauge',
      virt_dr_replication_unreplicated_domains: 'gauge',
    });
    for (const family of families.values()) for (const sample of family.samples) expect(sample.name).toMatch(/^virt_dr_/);
  });

  it('counts finished jobs by action and state, every pair present from the start', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    expect(valueOf(families, 'virt_dr_jobs_total', { action: 'backup', state: 'succeeded' })).toBe(3);
    expect(valueOf(families, 'virt_dr_jobs_total', { action: 'backup', state: 'failed' })).toBe(1);
    expect(valueOf(families, 'virt_dr_jobs_total', { action: 'verify', state: 'cancelled' })).toBe(1);
    expect(valueOf(families, 'virt_dr_jobs_total', { action: 'delete', state: 'failed' })).toBe(0);
    expect(families.get('virt_dr_jobs_total')!.samples).toHaveLength(JOB_ACTIONS.length * 3);
  });

  it('gives queued and running jobs from the runner\'s records at scrape time', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    expect(valueOf(families, 'virt_dr_jobs', { action: 'backup', state: 'queued' })).toBe(1);
    expect(valueOf(families, 'virt_dr_jobs', { action: 'restore', state: 'running' })).toBe(1);
    expect(valueOf(families, 'virt_dr_jobs', { action: 'verify', state: 'running' })).toBe(0);
    expect(families.get('virt_dr_jobs')!.samples).toHaveLength(JOB_ACTIONS.length * 2);
  });

  it('sums bytes written per action, replication included', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    const bytes = (action: string) => valueOf(families, 'virt_dr_bytes_written_total', { action });
    expect([bytes('backup'), bytes('restore'), bytes('delete'), bytes('replicate'), bytes('verify')]).toEqual([1026, 5000, 30, 300, undefined]);
  });

  it('counts each finished backup per domain and final state, and no other job', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    const backups = (state: string) => valueOf(families, 'virt_dr_domain_backups_total', { domain: 'vm-a', domain_uuid: UUID_A, state });
    expect([backups('succeeded'), backups('failed'), backups('cancelled')]).toEqual([3, 1, undefined]);
    // The queued backup of vm-b has not finished; restores, deletes and verifies are not backups.
    expect(families.get('virt_dr_domain_backups_total')!.samples).toHaveLength(2);
    expect(backupOutcome(jobRecord('backup', 'cancelled', { domain_name: 'vm-b', domain_uuid: UUID_B }))).toEqual({ domain: 'vm-b', domain_uuid: UUID_B, state: 'cancelled' });
    expect(backupOutcome(jobRecord('backup', 'running'))).toBeNull();
    expect(backupOutcome(jobRecord('restore', 'failed'))).toBeNull();
  });

  it('observes each freeze in seconds by quiesce method, nothing for a backup that froze nothing', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    const bucket = (quiesce: string, le: string) => valueOf(families, 'virt_dr_freeze_seconds', { quiesce, le }, 'virt_dr_freeze_seconds_bucket');
    expect(valueOf(families, 'virt_dr_freeze_seconds', { quiesce: 'agent' }, 'virt_dr_freeze_seconds_count')).toBe(1);
    expect(valueOf(families, 'virt_dr_freeze_seconds', { quiesce: 'agent' }, 'virt_dr_freeze_seconds_sum')).toBeCloseTo(0.08);
    expect([bucket('agent', '0.05'), bucket('agent', '0.1')]).toEqual([0, 1]);
    expect([bucket('suspend', '2.5'), bucket('suspend', '5')]).toEqual([0, 1]);
    expect(families.get('virt_dr_freeze_seconds')!.samples.some((s) => s.labels.quiesce === 'none')).toBe(false);
  });

  it('reads per domain the last successes, the RPO and per target the space and replication lag', async () => {
    const families = parsePrometheusText(await fedMetrics().registry.metrics());
    const last = (action: string) => valueOf(families, 'virt_dr_last_success_timestamp_seconds', { domain: 'vm-a', domain_uuid: UUID_A, action });
    expect(last('backup')).toBe(Date.parse(NEWEST_A) / 1000);
    expect(last('verify')).toBe(Date.parse('2026-12-01T08:30:00.000Z') / 1000);
    expect(last('restore')).toBeUndefined();
    expect(valueOf(families, 'virt_dr_rpo_seconds', { domain: 'vm-a', domain_uuid: UUID_A })).toBe(42.5);
    expect(valueOf(families, 'virt_dr_target_free_bytes', { target: 'local' })).toBe(700);
    expect(valueOf(families, 'virt_dr_target_total_bytes', { target: 'dr' })).toBe(10000);
    expect(valueOf(families, 'virt_dr_replication_lag_seconds', { target: 'dr' })).toBe(60);
    expect(valueOf(families, 'virt_dr_replication_unreplicated_domains', { target: 'dr' })).toBe(0);
    expect(valueOf(families, 'virt_dr_replication_errors_total', { target: 'dr' })).toBe(1);
    expect(valueOf(families, 'virt_dr_target_errors_total', { target: 'local' })).toBe(0);
    expect(valueOf(families, 'virt_dr_agent_info', { version: '0.0.0-test', host: 'metrics-unit' })).toBe(1);
  });
});

describe('what the metrics read from job records', () => {
  it('takes bytes only from a succeeded job\'s result, whatever shape an old journal left', () => {
    expect(bytesWrittenBy(jobRecord('backup', 'succeeded', { result: { bytes: 'many' } }))).toBe(0);
    expect(bytesWrittenBy(jobRecord('delete', 'succeeded', { result: { places: [null, { bytes_written: -5 }, { bytes_written: 7 }] } }))).toBe(7);
    expect(bytesWrittenBy(jobRecord('restore', 'failed', { result: { bytes: 9 } }))).toBe(0);
    expect(bytesWrittenBy(jobRecord('verify', 'succeeded', { result: { bytes_read: 9 } }))).toBe(0);
  });

  it('reads a freeze only from a backup that stopped its guest', () => {
    expect(freezeOf(jobRecord('backup', 'succeeded', { result: { quiesce: 'agent', freeze_ms: 120 } }))).toEqual({ quiesce: 'agent', seconds: 0.12 });
    expect(freezeOf(jobRecord('backup', 'succeeded', { result: { quiesce: 'none', freeze_ms: 0 } }))).toBeNull();
    expect(freezeOf(jobRecord('backup', 'failed', { result: { quiesce: 'agent', freeze_ms: 5 } }))).toBeNull();
    expect(freezeOf(jobRecord('backup', 'succeeded', { result: { quiesce: 'agent', freeze_ms: Number.NaN } }))).toBeNull();
  });

  it('keeps per domain and action the newest success, named as that job named the domain', () => {
    const older = jobRecord('restore', 'succeeded', { domain_name: 'old-name', finished_at: '2026-12-01T01:00:00.000Z' });
    const newer = jobRecord('restore', 'succeeded', { domain_name: 'new-name', finished_at: '2026-12-01T02:00:00.000Z' });
    const failed = jobRecord('restore', 'failed', { finished_at: '2026-12-01T03:00:00.000Z' });
    expect(lastSuccesses([newer, failed, older], ['restore'])).toEqual([
      { domain: 'new-name', domain_uuid: UUID_A, action: 'restore', at_s: Date.parse('2026-12-01T02:00:00.000Z') / 1000 },
    ]);
    expect(lastSuccesses([newer], ['verify'])).toEqual([]);
  });
});

describe('replication lag', () => {
  const domain = (uuid: string, newest: string, held: Record<string, string | null>): DomainStatus => ({
    domain_uuid: uuid,
    domain: uuid.slice(0, 8),
    newest_at: newest,
    rpo_s: null,
    secondaries: held,
  });

  it('is the widest gap over the domains a secondary holds, 0 when up to date; the others are counted apart', () => {
    const domains = [
      domain(UUID_A, '2026-12-01T10:00:00.000Z', { near: '2026-12-01T10:00:00.000Z', far: '2026-12-01T09:58:00.000Z' }),
      domain(UUID_B, '2026-12-01T10:05:00.000Z', { near: '2026-12-01T10:05:00.000Z', far: null }),
    ];
    expect(replicationLag(domains, ['near', 'far'])).toEqual([
      { target: 'near', lag_s: 0, unreplicated: 0 },
      { target: 'far', lag_s: 120, unreplicated: 1 },
    ]);
    expect(replicationLag(domains, [])).toEqual([]);
  });
});
