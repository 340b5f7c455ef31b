/**
 * Plain stand-ins for what AgentMetrics reads (job records, repository targets, the
 * replicator), for the unit tests of the exposition.
 */
import pino from 'pino';
import type { JobAction, JobRecord, JobState } from '../../src/jobs/job.js';
import { AgentMetrics, type MetricsSources } from '../../src/metrics/agent-metrics.js';
import type { Manifest } from '../../src/repo/point.js';
import type { FreeSpace } from '../../src/repo/target.js';

export const UUID_A = 'aaaaaaaa-0000-4000-8000-000000000001';
export const UUID_B = 'bbbbbbbb-0000-4000-8000-000000000002';

let jobCount = 0;

/** A job record as the runner keeps it; finished ones have `finished_at`. */
export function jobRecord(action: JobAction, state: JobState, fields: Partial<JobRecord> = {}): JobRecord {
  jobCount += 1;
  const finished = state !== 'queued' && state !== 'running';
  return {
    job_id: `job-${jobCount}`,
    action,
    domain: 'vm-a',
    domain_uuid: UUID_A,
    domain_name: 'vm-a',
    state,
    created_at: '2026-12-01T10:00:00.000Z',
    started_at: state === 'queued' ? null : '2026-12-01T10:00:01.000Z',
    finished_at: finished ? '2026-12-01T10:00:05.000Z' : null,
    progress: { bytes_done: 0, bytes_total: 0, phase: null },
    result: null,
    error: state === 'failed' ? { class: 'ToolFailed', message: 'qemu-img failed' } : null,
    request: { args: {}, context: {}, request_id: null, unique_id: null },
    checkpoint: null,
    repair_pending: false,
    ...fields,
  };
}

/** A target that answers what it is given; `hang` never answers, `fail` rejects. */
export function fakeTarget(
  name: string,
  options: { space?: FreeSpace | 'hang' | 'fail'; points?: Record<string, Pick<Manifest, 'domain' | 'created_at'>> | 'hang' } = {},
) {
  const calls = { freeSpace: 0, listDomains: 0 };
  const never = new Promise<never>(() => undefined);
  const space = options.space ?? { free_bytes: 1000, total_bytes: 5000 };
  const points = options.points ?? {};
  return {
    calls,
    target: {
      name,
      freeSpace: (): Promise<FreeSpace> => {
        calls.freeSpace += 1;
        if (space === 'hang') return never;
        return space === 'fail' ? Promise.reject(new Error(`${name} is unreachable`)) : Promise.resolve(space);
      },
      listDomains: (): Promise<string[]> => {
        calls.listDomains += 1;
        return points === 'hang' ? never : Promise.resolve(Object.keys(points));
      },
      latestPoint: async (uuid: string): Promise<Manifest | null> =>
        points !== 'hang' && points[uuid] ? ({ ...points[uuid], domain_uuid: uuid } as Manifest) : null,
    },
  };
}

/** The replicator's read methods, answering from plain maps. */
export function fakeReplicas(secondaryNames: string[], rpo: Record<string, number | null> = {}, held: Record<string, Record<string, string | null>> = {}) {
  return {
    secondaryNames,
    rpoSeconds: async (uuid: string) => rpo[uuid] ?? null,
    newestOnSecondaries: async (uuid: string) => held[uuid] ?? Object.fromEntries(secondaryNames.map((n) => [n, null])),
  };
}

export function metricsWith(sources: Partial<MetricsSources> & Pick<MetricsSources, 'targets'>, jobs: JobRecord[] = []): AgentMetrics {
  return new AgentMetrics({
    host: 'metrics-unit',
    version: '0.0.0-test',
    jobs: () => jobs,
    replicas: fakeReplicas([]),
    policyOf: async () => ({ schedule: null, plan: { primary: 'local', secondaries: [], copies: 1 } }),
    log: pino({ level: 'silent' }),
    ...sources,
  });
}
