import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobEvents } from '../jobs/job-runner.js';
import { isFinished, JOB_ACTIONS, type JobRecord } from '../jobs/job.js';
import type { Policy } from '../policy/policy.js';
import type { ReplicationEvent, Replicator } from '../replication/replicator.js';
import type { RepositoryTarget } from '../repo/target.js';
import { backupOutcome, bytesWrittenBy, FINISHED_STATES, freezeOf, lastSuccesses, unfinishedCounts } from './job-facts.js';
import { rpoTargetMemo } from './rpo-target.js';
import { freeSpaceReader, readDomainStatuses, replicationLag, shared, within, type DomainStatus, type ReplicaReads } from './scrape-reads.js';

export interface MetricsSources {
  host: string;
  version: string;
  /** The job runner's records (unfinished, and the finished ones it keeps), read at scrape time. */
  jobs: () => readonly JobRecord[];
  /** Every repository target, the primary first. */
  targets: readonly Pick<RepositoryTarget, 'name' | 'freeSpace' | 'listDomains' | 'latestPoint'>[];
  replicas: ReplicaReads & Pick<Replicator, 'secondaryNames'>;
  /** A domain's resolved policy (its schedule and plan give the RPO target); read at scrape time. */
  policyOf: (domainUuid: string) => Promise<Pick<Policy, 'schedule' | 'plan'>>;
  log: Logger;
  /** Deadlines of the scrape-time reads; the defaults fit in Prometheus' 10 s scrape timeout. */
  timeouts?: { freeSpaceMs: number; domainsMs: number; policiesMs: number };
}

const DEFAULT_TIMEOUTS = { freeSpaceMs: 2_000, domainsMs: 5_000, policiesMs: 2_000 };
/**
 * The freeze window in seconds, Prometheus' base unit. A guest agent freeze usually ends
 * within a tenth of a second; a pause or a slow guest takes seconds, and the freeze
 * timeout (10 s by default) bounds it.
 */
const FREEZE_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The byte counter's actions: the job actions that write, and replication. */
const WRITING_ACTIONS = [...JOB_ACTIONS.filter((action) => action !== 'verify'), 'replicate'];
type TargetRead = 'points' | 'free space';
interface RpoTarget {
  domain: string;
  domain_uuid: string;
  target_s: number;
}

/**
 * The agent's Prometheus metrics, in a registry of its own (the process-wide default
 * registry is left to whoever embeds prom-client). Job and replication events feed the
 * counters as they happen; the gauges are read when scraped, from the job runner, the
 * repository targets and the replica records. Each scrape reads each source once, shared
 * by the collectors that need it, under a deadline: a hung target leaves its series out
 * of that scrape and counts an error, and never holds the scrape up.
 *
 * Labels carry domain names and UUIDs, target names and action names, never a URL or
 * anything else from the configuration that could hold a secret.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly jobsTotal: Counter<'action' | 'state'>;
  private readonly domainBackups: Counter<'domain' | 'domain_uuid' | 'state'>;
  private readonly bytesWritten: Counter<'action'>;
  private readonly freeze: Histogram<'quiesce'>;
  private readonly targetErrors: Counter<'target'>;
  private readonly replicationErrors: Counter<'target'>;
  /** The reads failing now (`<target> <read>`, or the policies): logged when they start and end. */
  private readonly failingReads = new Set<string>();
  /** One read of the primary's domains per scrape; null when it failed or was late. */
  private readonly domainsNow: () => Promise<DomainStatus[] | null>;
  private readonly spaceNow: () => Promise<Map<string, { free_bytes: number; total_bytes: number }>>;
  private readonly rpoTargetOf = rpoTargetMemo();

  constructor(private readonly sources: MetricsSources) {
    const { targets, replicas } = sources;
    const timeouts = sources.timeouts ?? DEFAULT_TIMEOUTS;
    const primary = targets[0]!;
    const readDomains = shared(() => readDomainStatuses(primary, replicas, Date.now()));
    this.domainsNow = shared(() =>
      within(readDomains(), timeouts.domainsMs, `the points of target ${primary.name}`).then(
        (domains) => this.targetAnswered(primary.name, 'points', domains),
        (err: Error) => this.targetFailed(primary.name, 'points', err),
      ),
    );
    const readSpace = freeSpaceReader(targets, timeouts.freeSpaceMs, (name, err) => this.targetFailed(name, 'free space', err));
    this.spaceNow = shared(async () => {
      const space = await readSpace();
      for (const name of space.keys()) this.targetAnswered(name, 'free space', null);
      return space;
    });

    const registers = [this.registry];
    this.jobsTotal = new Counter({ name: 'virt_dr_jobs_total', help: 'Jobs finished since the agent started, by action and final state.', labelNames: ['action', 'state'], registers });
    for (const action of JOB_ACTIONS) for (const state of FINISHED_STATES) this.jobsTotal.inc({ action, state }, 0);
    // Three series per domain backed up since the start: per domain, not per point or per job.
    this.domainBackups = new Counter({
      name: 'virt_dr_domain_backups_total',
      help: 'Backup jobs finished since the agent started, per domain and final state (succeeded, failed, cancelled).',
      labelNames: ['domain', 'domain_uuid', 'state'],
      registers,
    });
    this.bytesWritten = new Counter({
      name: 'virt_dr_bytes_written_total',
      help: 'Bytes written since the agent started: backup points, restored disks, delete merges, copies to secondary targets (replicate).',
      labelNames: ['action'],
      registers,
    });
    for (const action of WRITING_ACTIONS) this.bytesWritten.inc({ action }, 0);
    // By quiesce method only: a histogram per domain would be a dozen series per domain.
    this.freeze = new Histogram({
      name: 'virt_dr_freeze_seconds',
      help: 'How long each successful backup kept its guest frozen (quiesce agent) or paused (suspend).',
      labelNames: ['quiesce'],
      buckets: FREEZE_BUCKETS_S,
      registers,
    });
    for (const quiesce of ['agent', 'suspend']) this.freeze.zero({ quiesce });
    this.targetErrors = new Counter({
      name: 'virt_dr_target_errors_total',
      help: 'Scrape-time reads of a repository target that failed or missed their deadline; its series are left out of that scrape.',
      labelNames: ['target'],
      registers,
      // The reads count their failures: a scrape reports its own.
      collect: () => Promise.all([this.domainsNow(), this.spaceNow()]).then(() => undefined),
    });
    for (const { name } of targets) this.targetErrors.inc({ target: name }, 0);
    this.replicationErrors = new Counter({ name: 'virt_dr_replication_errors_total', help: 'Failed copies to a secondary target (each is retried).', labelNames: ['target'], registers });
    for (const target of replicas.secondaryNames) this.replicationErrors.inc({ target }, 0);
    this.scrapeGauges();
  }

  /** The job runner's listener: counts each finished job, its bytes and its freeze. */
  jobEvents(): Partial<JobEvents> {
    return { finished: (job) => this.guarded('job', () => this.noteFinished(job)) };
  }

  /** The Replicator's listener: bytes copied and failed copies. */
  replicationReport(stage: 'start' | 'end' | 'error', event: ReplicationEvent): void {
    this.guarded('replication', () => {
      if (stage === 'end') this.bytesWritten.inc({ action: 'replicate' }, event.bytes ?? 0);
      if (stage === 'error') this.replicationErrors.inc({ target: event.target });
    });
  }

  private noteFinished(job: JobRecord): void {
    if (!isFinished(job.state)) return;
    this.jobsTotal.inc({ action: job.action, state: job.state });
    const outcome = backupOutcome(job);
    if (outcome) this.domainBackups.inc(outcome);
    const bytes = bytesWrittenBy(job);
    if (bytes > 0) this.bytesWritten.inc({ action: job.action }, bytes);
    const freeze = freezeOf(job);
    if (freeze) this.freeze.observe({ quiesce: freeze.quiesce }, freeze.seconds);
  }

  /** The gauges whose values are read at scrape time. */
  private scrapeGauges(): void {
    const { jobs, host, version, replicas } = this.sources;
    this.gauge('virt_dr_agent_info', 'The agent\'s version and host name; always 1.', ['version', 'host'], (g) => g.set({ version, host }, 1));
    this.gauge('virt_dr_jobs', 'Jobs queued or running now, by action and state.', ['action', 'state'], (g) => {
      for (const { action, state, count } of unfinishedCounts(jobs())) g.set({ action, state }, count);
    });
    this.gauge(
      'virt_dr_last_success_timestamp_seconds',
      'When each domain last succeeded, per action: for backup the newest point on the primary target (its created_at); for the others the newest successful job the agent keeps.',
      ['domain', 'domain_uuid', 'action'],
      async (g) => {
        const domains = await this.domainsNow();
        g.reset();
        for (const d of domains ?? []) g.set({ domain: d.domain, domain_uuid: d.domain_uuid, action: 'backup' }, Date.parse(d.newest_at) / 1000);
        for (const s of lastSuccesses(jobs(), ['restore', 'verify', 'delete'])) g.set({ domain: s.domain, domain_uuid: s.domain_uuid, action: s.action }, s.at_s);
      },
    );
    this.gauge('virt_dr_rpo_seconds', 'Per domain, the age of its newest point off the host (on a secondary target, or the primary when it has none).', ['domain', 'domain_uuid'], async (g) => {
      const domains = await this.domainsNow();
      g.reset();
      for (const d of domains ?? []) if (d.rpo_s !== null) g.set({ domain: d.domain, domain_uuid: d.domain_uuid }, d.rpo_s);
    });
    this.gauge(
      'virt_dr_rpo_target_seconds',
      'Per domain with a schedule, the RPO its policy promises: the longest gap between two scheduled slots plus the largest secondary delay_s.',
      ['domain', 'domain_uuid'],
      async (g) => {
        const targets = await this.rpoTargetsNow();
        g.reset();
        for (const t of targets) g.set({ domain: t.domain, domain_uuid: t.domain_uuid }, t.target_s);
      },
    );
    this.gauge('virt_dr_target_free_bytes', 'Free bytes on each repository target.', ['target'], async (g) => {
      const space = await this.spaceNow();
      g.reset();
      for (const [target, { free_bytes: free }] of space) g.set({ target }, free);
    });
    this.gauge('virt_dr_target_total_bytes', 'Size in bytes of the file system under each repository target.', ['target'], async (g) => {
      const space = await this.spaceNow();
      g.reset();
      for (const [target, { total_bytes: total }] of space) g.set({ target }, total);
    });
    const lagNow = async () => {
      const domains = await this.domainsNow();
      return domains === null ? [] : replicationLag(domains, replicas.secondaryNames);
    };
    this.gauge(
      'virt_dr_replication_lag_seconds',
      'Per secondary target, the largest gap over domains between the primary\'s newest point and the newest the secondary holds (created_at); 0 when up to date.',
      ['target'],
      async (g) => {
        const lags = await lagNow();
        g.reset();
        for (const { target, lag_s: lag } of lags) g.set({ target }, lag);
      },
    );
    this.gauge('virt_dr_replication_unreplicated_domains', 'Per secondary target, the domains with points on the primary and none there.', ['target'], async (g) => {
      const lags = await lagNow();
      g.reset();
      for (const { target, unreplicated } of lags) g.set({ target }, unreplicated);
    });
  }

  /**
   * The RPO target of each domain the RPO gauge shows, from its resolved policy. A policy
   * that does not resolve, or reads that miss the deadline, leave the series out: the
   * scrape goes on. Reads still running are shared by the next scrape, not started again.
   */
  private async rpoTargetsNow(): Promise<RpoTarget[]> {
    const { policiesMs } = this.sources.timeouts ?? DEFAULT_TIMEOUTS;
    const { targets, failures } = await within(this.readRpoTargets(), policiesMs, 'the domains\' policies').catch((err: Error) => ({ targets: [], failures: [err.message] }));
    if (failures.length > 0) this.outageStarts('policies', () => this.sources.log.warn({ failures: failures.slice(0, 5) }, 'metrics: policies did not resolve; their RPO targets are left out'));
    else this.outageEnds('policies', () => this.sources.log.info('metrics: the policies resolve again'));
    return targets;
  }

  private readonly readRpoTargets = shared(async (): Promise<{ targets: RpoTarget[]; failures: string[] }> => {
    const domains = (await this.domainsNow()) ?? [];
    const now = Date.now();
    const failures: string[] = [];
    const read = await Promise.all(
      domains.map(async ({ domain, domain_uuid: domainUuid }) => {
        try {
          const target = this.rpoTargetOf(await this.sources.policyOf(domainUuid), now);
          return target === null ? [] : [{ domain, domain_uuid: domainUuid, target_s: target }];
        } catch (err) {
          failures.push(`${domainUuid}: ${(err as Error).message}`);
          return [];
        }
      }),
    );
    return { targets: read.flat(), failures };
  });

  private gauge<L extends string>(name: string, help: string, labelNames: L[], collect: (gauge: Gauge<L>) => void | Promise<void>): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        return collect(this);
      },
    });
  }

  private targetFailed(target: string, read: TargetRead, err: Error): null {
    this.targetErrors.inc({ target });
    // Once per outage in the log; every scrape in the counter.
    this.outageStarts(`${target} ${read}`, () => this.sources.log.warn({ target, read, err: err.message }, 'metrics: a repository target did not answer; its series are left out'));
    return null;
  }

  private targetAnswered<T>(target: string, read: TargetRead, value: T): T {
    this.outageEnds(`${target} ${read}`, () => this.sources.log.info({ target, read }, 'metrics: the repository target answers again'));
    return value;
  }

  /** Logs a read's failure once per outage, not once per scrape. */
  private outageStarts(read: string, log: () => void): void {
    if (!this.failingReads.has(read)) log();
    this.failingReads.add(read);
  }

  private outageEnds(read: string, log: () => void): void {
    if (this.failingReads.delete(read)) log();
  }

  /** A listener must never throw into the job runner or the replicator. */
  private guarded(what: string, update: () => void): void {
    try {
      update();
    } catch (err) {
      this.sources.log.warn({ err: (err as Error).message, events: what }, 'metrics not updated');
    }
  }
}
