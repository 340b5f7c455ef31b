import type { Logger } from 'pino';
import { VirtDrError } from '../errors.js';
import type { JobEvents } from '../jobs/job-runner.js';
import type { RepositoryTarget, TransferOptions } from '../repo/target.js';
import type { DomainRecordStore } from '../util/domain-records.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import { emptyCopies, type ReplicaRecord, type TargetCopies } from './replica-record.js';
import { syncDomain } from './sync-domain.js';

export interface Secondary {
  target: RepositoryTarget;
  /** A new point goes to this target this long after the primary has it. */
  delayMs: number;
}

/** What `virt_dr.replicate.start|end|error` carry. */
export interface ReplicationEvent {
  domain_uuid: string;
  target: string;
  location: string;
  /** The points this sync copies (start) or copied (end). */
  backup_ids: string[];
  bytes?: number;
  duration_ms?: number;
  /** The domain's RPO once the copy landed: the age in seconds of its newest point off the host. */
  rpo_s?: number | null;
  failures?: number;
  retry_in_s?: number;
  error?: { class: string; message: string };
}

export interface ReplicatorDeps {
  primary: RepositoryTarget;
  secondaries: readonly Secondary[];
  records: DomainRecordStore<ReplicaRecord>;
  /** Shared with delete_backup: a domain's points are not copied while they are deleted. */
  locks: KeyedLock;
  concurrency: number;
  report: (stage: 'start' | 'end' | 'error', event: ReplicationEvent) => void;
  log: Logger;
}

/** Retries after a failed copy: 10 s, doubling, at most 10 minutes apart. */
export const FIRST_RETRY_MS = 10_000;
export const LONGEST_RETRY_MS = 600_000;

interface Due {
  domainUuid: string;
  secondary: Secondary;
  at: number;
  /** A retry keeps its backoff even when a new point arrives meanwhile. */
  retry: boolean;
}

/**
 * Copies points from the primary target to each secondary in the background, outside the
 * job runner, so a slow or unreachable secondary never holds up the next backup. A
 * published point is due on each secondary after that secondary's delay; when one domain
 * is due on several, they are filled one after another, the one with the most free space
 * first. A failed copy is retried with a growing pause and reported each time. At start
 * every domain is due everywhere at once, so what a stop or crash left behind is caught up.
 */
export class Replicator {
  private readonly due = new Map<string, Due>();
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: ReplicatorDeps) {}

  get hasSecondaries(): boolean {
    return this.deps.secondaries.length > 0;
  }

  async start(): Promise<void> {
    for (const domainUuid of await this.deps.primary.listDomains()) {
      for (const secondary of this.deps.secondaries) this.setDue({ domainUuid, secondary, at: Date.now(), retry: false });
    }
    this.pump();
  }

  /** A backup published a point of the domain on the primary. */
  notePublished(domainUuid: string): void {
    for (const secondary of this.deps.secondaries) this.setDue({ domainUuid, secondary, at: Date.now() + secondary.delayMs, retry: false });
    this.pump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort(new Error('the agent is stopping'));
    await Promise.allSettled([...this.running]);
  }

  /** Per point of the domain, the targets it is complete on: the primary first. */
  async targetsOf(domainUuid: string, backupIds: readonly string[]): Promise<Map<string, string[]>> {
    const record = await this.record(domainUuid);
    const names = new Map(backupIds.map((id) => [id, [this.deps.primary.name]]));
    for (const { target } of this.deps.secondaries) {
      for (const point of record.targets[target.name]?.points ?? []) names.get(point.backup_id)?.push(target.name);
    }
    return names;
  }

  /**
   * The domain's achieved RPO in seconds: the age of its newest point complete off the
   * host, on any secondary (or on the primary when there is none, which is then the DR
   * target itself). Null when there is no such point.
   */
  async rpoSeconds(domainUuid: string, now = Date.now()): Promise<number | null> {
    let newest: string | null;
    if (this.hasSecondaries) {
      const record = await this.record(domainUuid);
      newest = Object.values(record.targets).flatMap((t) => t.points.map((p) => p.created_at)).sort().at(-1) ?? null;
    } else {
      newest = (await this.deps.primary.latestPoint(domainUuid))?.created_at ?? null;
    }
    return newest === null ? null : Math.max(0, Math.round((now - Date.parse(newest)) / 100) / 10);
  }

  /** The worst RPO over the primary's domains that have a point off the host, with its domain. */
  async worstRpo(now = Date.now()): Promise<{ domain_uuid: string; rpo_s: number } | null> {
    let worst: { domain_uuid: string; rpo_s: number } | null = null;
    for (const domainUuid of await this.deps.primary.listDomains()) {
      const rpo = await this.rpoSeconds(domainUuid, now);
      if (rpo !== null && (worst === null || rpo > worst.rpo_s)) worst = { domain_uuid: domainUuid, rpo_s: rpo };
    }
    return worst;
  }

  /** The secondary targets' names, in configuration order. */
  get secondaryNames(): string[] {
    return this.deps.secondaries.map(({ target }) => target.name);
  }

  /**
   * Per secondary, the `created_at` of the domain's newest point it holds (null: none), as
   * the replica record last saw it: no round trip to the target, so a scrape stays cheap.
   */
  async newestOnSecondaries(domainUuid: string): Promise<Record<string, string | null>> {
    const record = await this.record(domainUuid);
    return Object.fromEntries(
      this.secondaryNames.map((name) => [name, record.targets[name]?.points.map((p) => p.created_at).sort().at(-1) ?? null]),
    );
  }

  /** The secondary that holds a point, asked of the targets themselves; null when none does. */
  async secondaryHolding(domainUuid: string, backupId: string): Promise<Secondary | null> {
    for (const secondary of this.deps.secondaries) {
      if (await secondary.target.hasPoint(domainUuid, backupId)) return secondary;
    }
    return null;
  }

  /**
   * Brings a point the primary lacks home from a secondary that holds it, with the points
   * it builds on (a failback's point, taken on the DR node; a point the primary lost), so
   * a restore reads it from the primary like any other. False when no secondary has it.
   */
  async fetchToPrimary(domainUuid: string, backupId: string, options: TransferOptions = {}): Promise<boolean> {
    if (await this.deps.primary.hasPoint(domainUuid, backupId)) return true;
    const holder = await this.secondaryHolding(domainUuid, backupId);
    if (!holder) return false;
    const sync = await this.deps.locks.run(domainUuid, () => syncDomain(holder.target, this.deps.primary, domainUuid, options));
    this.deps.log.info({ domain_uuid: domainUuid, from: holder.target.name, copied: sync.copied, bytes: sync.bytes }, 'points brought home from a secondary target');
    return this.deps.primary.hasPoint(domainUuid, backupId);
  }

  private setDue(next: Due): void {
    const key = `${next.domainUuid} ${next.secondary.target.name}`;
    const current = this.due.get(key);
    if (current && (current.retry || current.at <= next.at) && !next.retry) return;
    this.due.set(key, next);
  }

  /** Starts every due domain there is room for, then sleeps until the next is due. */
  private pump(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const now = Date.now();
    const ready = new Map<string, Due[]>();
    for (const [key, entry] of this.due) {
      if (entry.at > now || this.busy.has(entry.domainUuid)) continue;
      if (!ready.has(entry.domainUuid) && this.busy.size + ready.size >= this.deps.concurrency) continue;
      ready.set(entry.domainUuid, [...(ready.get(entry.domainUuid) ?? []), entry]);
      this.due.delete(key);
    }
    for (const [domainUuid, entries] of ready) {
      this.busy.add(domainUuid);
      const run: Promise<void> = this.replicateDomain(domainUuid, entries.map((e) => e.secondary)).finally(() => {
        this.busy.delete(domainUuid);
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
    const waiting = [...this.due.values()].filter((e) => !this.busy.has(e.domainUuid)).map((e) => e.at);
    if (waiting.length > 0) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, Math.min(...waiting) - now));
      this.timer.unref();
    }
  }

  private async replicateDomain(domainUuid: string, secondaries: Secondary[]): Promise<void> {
    for (const secondary of await this.byFreeSpace(secondaries)) {
      if (this.stopped) return;
      await this.deps.locks.run(domainUuid, () => this.copyTo(domainUuid, secondary));
    }
  }

  /** Most free space first; a target that cannot say goes last. */
  private async byFreeSpace(secondaries: Secondary[]): Promise<Secondary[]> {
    if (secondaries.length < 2) return secondaries;
    const free = await Promise.all(secondaries.map((s) => s.target.freeSpace().then((f) => f.free_bytes, () => -1)));
    return secondaries.map((s, i) => ({ s, free: free[i]! })).sort((a, b) => b.free - a.free).map(({ s }) => s);
  }

  private async copyTo(domainUuid: string, secondary: Secondary): Promise<void> {
    const { target } = secondary;
    const base = { domain_uuid: domainUuid, target: target.name, location: target.location };
    const started = Date.now();
    const copying: string[] = [];
    try {
      const sync = await syncDomain(this.deps.primary, target, domainUuid, {
        signal: this.abort.signal,
        onPoint: (point) => {
          copying.push(point.backup_id);
          if (copying.length === 1) this.deps.report('start', { ...base, backup_ids: [point.backup_id] });
        },
      });
      await this.saveCopies(domainUuid, target.name, {
        points: sync.present.map((p) => ({ backup_id: p.backup_id, created_at: p.created_at })),
        synced_at: new Date().toISOString(),
        failures: 0,
        last_error: null,
      });
      if (sync.skipped.length > 0) this.deps.log.warn({ ...base, skipped: sync.skipped }, 'points not copied: their parent is on neither target');
      if (sync.copied.length === 0) return;
      const event = { ...base, backup_ids: sync.copied, bytes: sync.bytes, duration_ms: Date.now() - started, rpo_s: await this.rpoSeconds(domainUuid) };
      this.deps.log.info(event, 'points copied to a secondary target');
      this.deps.report('end', event);
    } catch (err) {
      if (this.stopped) return;
      await this.noteFailure(domainUuid, secondary, base, copying, err as Error);
    }
  }

  private async noteFailure(domainUuid: string, secondary: Secondary, base: Omit<ReplicationEvent, 'backup_ids'>, copying: string[], err: Error): Promise<void> {
    const copies = (await this.record(domainUuid)).targets[secondary.target.name] ?? emptyCopies();
    const failures = copies.failures + 1;
    await this.saveCopies(domainUuid, secondary.target.name, { ...copies, failures, last_error: err.message }).catch(() => undefined);
    const retryMs = Math.min(FIRST_RETRY_MS * 2 ** (failures - 1), LONGEST_RETRY_MS);
    this.setDue({ domainUuid, secondary, at: Date.now() + retryMs, retry: true });
    const error = err instanceof VirtDrError ? { class: err.name, message: err.message } : { class: 'InternalError', message: err.message };
    const event = { ...base, backup_ids: copying, failures, retry_in_s: retryMs / 1000, error };
    this.deps.log.warn(event, 'copy to a secondary target failed; it is retried');
    this.deps.report('error', event);
  }

  private async record(domainUuid: string): Promise<ReplicaRecord> {
    try {
      return (await this.deps.records.load(domainUuid)) ?? { domain_uuid: domainUuid, targets: {} };
    } catch (err) {
      // The next sync lists the target again and writes the record anew.
      this.deps.log.warn({ domain_uuid: domainUuid, err: (err as Error).message }, 'replica record unreadable; treated as empty');
      return { domain_uuid: domainUuid, targets: {} };
    }
  }

  private async saveCopies(domainUuid: string, targetName: string, copies: TargetCopies): Promise<void> {
    const record = await this.record(domainUuid);
    record.targets[targetName] = copies;
    await this.deps.records.save(domainUuid, record);
  }
}

/** A backup that succeeded published a point on the primary: it is due on the secondaries. */
export function replicateAfterBackup(replicator: Pick<Replicator, 'notePublished'>): Partial<JobEvents> {
  return {
    finished: (job) => {
      if (job.action === 'backup' && job.state === 'succeeded') replicator.notePublished(job.domain_uuid);
    },
  };
}
