import type { Logger } from 'pino';
import { VirtDrError } from '../errors.js';
import type { JobEvents } from '../jobs/job-runner.js';
import { chooseSecondaries } from '../policy/secondaries.js';
import type { Plan } from '../policy/policy.js';
import type { RepositoryTarget, TransferOptions } from '../repo/target.js';
import type { DomainRecordStore } from '../util/domain-records.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import { emptyCopies, type ReplicaRecord, type TargetCopies } from './replica-record.js';
import { syncDomain } from './sync-domain.js';
import type { Manifest } from '../repo/point.js';

export interface Secondary {
  target: RepositoryTarget;
  /** A new point goes to this target this long after it was published. */
  delayMs: number;
}

/** Where a domain's points are copied from and to, by its policy. */
export interface DomainCopyPlan {
  /** The targets of the domain's tiers, fast first: where its points are published and moved. */
  sources: readonly RepositoryTarget[];
  /** The secondaries, their delays and the number of copies. */
  plan: Plan;
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
  /** Every configured target, the agent's primary first. */
  targets: readonly RepositoryTarget[];
  copyPlanOf: (domainUuid: string) => Promise<DomainCopyPlan>;
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
 * Copies each domain's points to the secondaries of its policy's plan in the background,
 * outside the job runner, so a slow or unreachable secondary never holds up the next
 * backup. The sources are the domain's tier targets (a chain that moved to slow is copied
 * from there). A published point is due on each secondary after that secondary's delay;
 * the plan's `copies` decides how many secondaries receive the domain (those holding its
 * points first, then the most free space: `chooseSecondaries`), filled one after another.
 * A failed copy is retried with a growing pause and reported each time. At start every
 * domain is due everywhere at once, so what a stop or crash left behind is caught up.
 */
export class Replicator {
  private readonly due = new Map<string, Due>();
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: ReplicatorDeps) {}

  async start(): Promise<void> {
    for (const domainUuid of await this.allDomains()) await this.schedule(domainUuid, { now: true });
    this.pump();
  }

  /** A backup published a point of the domain: it is due on the domain's secondaries after their delays. */
  notePublished(domainUuid: string): void {
    void this.schedule(domainUuid, { now: false }).then(() => this.pump());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort(new Error('the agent is stopping'));
    await Promise.allSettled([...this.running]);
  }

  /** Per point of the domain, the secondaries it is complete on, as last seen (the point's own tier target not included). */
  async copiesOf(domainUuid: string, backupIds: readonly string[]): Promise<Map<string, string[]>> {
    const record = await this.record(domainUuid);
    const names = new Map(backupIds.map((id) => [id, [] as string[]]));
    // In configuration order, whichever was filled first.
    for (const { name } of this.deps.targets) {
      for (const point of record.targets[name]?.points ?? []) names.get(point.backup_id)?.push(name);
    }
    return names;
  }

  /**
   * The domain's achieved RPO in seconds: the age of its newest point complete off the
   * host, on any secondary (or, when its plan has none, on its tier targets, which are
   * then the DR copy themselves). Null when there is no such point.
   */
  async rpoSeconds(domainUuid: string, now = Date.now()): Promise<number | null> {
    const { sources, plan } = await this.deps.copyPlanOf(domainUuid);
    let newest: string | null;
    if (plan.secondaries.length > 0) {
      const record = await this.record(domainUuid);
      newest = Object.values(record.targets).flatMap((t) => t.points.map((p) => p.created_at)).sort().at(-1) ?? null;
    } else {
      const latest = await Promise.all(sources.map((source) => source.latestPoint(domainUuid)));
      newest = latest.map((p) => p?.created_at ?? '').sort().at(-1) || null;
    }
    return newest === null ? null : Math.max(0, Math.round((now - Date.parse(newest)) / 100) / 10);
  }

  /** The worst RPO over the domains with points on this agent's targets, with its domain. */
  async worstRpo(now = Date.now()): Promise<{ domain_uuid: string; rpo_s: number } | null> {
    let worst: { domain_uuid: string; rpo_s: number } | null = null;
    for (const domainUuid of await this.allDomains()) {
      const rpo = await this.rpoSeconds(domainUuid, now).catch(() => null);
      if (rpo !== null && (worst === null || rpo > worst.rpo_s)) worst = { domain_uuid: domainUuid, rpo_s: rpo };
    }
    return worst;
  }

  /** The targets other than the agent's primary, in configuration order: the ones metrics report copies on. */
  get secondaryNames(): string[] {
    return this.deps.targets.slice(1).map((target) => target.name);
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

  /** A target other than the domain's tier targets that holds the point, asked of the targets themselves; null when none does. */
  async secondaryHolding(domainUuid: string, backupId: string): Promise<RepositoryTarget | null> {
    const { sources } = await this.deps.copyPlanOf(domainUuid);
    for (const target of this.deps.targets.filter((t) => !sources.includes(t))) {
      if (await target.hasPoint(domainUuid, backupId)) return target;
    }
    return null;
  }

  /**
   * Brings a point the domain's tiers lack home into its fast tier from another target
   * that holds it, with the points it builds on (a failback's point, taken on the DR
   * node; a point the primary lost), so a restore reads it like any other. False when no
   * target has it.
   */
  async fetchToPrimary(domainUuid: string, backupId: string, options: TransferOptions = {}): Promise<boolean> {
    const home = (await this.deps.copyPlanOf(domainUuid)).sources[0]!;
    if (await home.hasPoint(domainUuid, backupId)) return true;
    const holder = await this.secondaryHolding(domainUuid, backupId);
    if (!holder) return false;
    const sync = await this.deps.locks.run(domainUuid, () => syncDomain(holder, home, domainUuid, options));
    this.deps.log.info({ domain_uuid: domainUuid, from: holder.name, to: home.name, copied: sync.copied, bytes: sync.bytes }, 'points brought home from another target');
    return home.hasPoint(domainUuid, backupId);
  }

  /** Every domain with points on any target. */
  private async allDomains(): Promise<string[]> {
    const lists = await Promise.all(this.deps.targets.map((t) => t.listDomains().catch(() => [] as string[])));
    return [...new Set(lists.flat())];
  }

  /** Makes the domain due on each secondary of its plan: now, or after each one's delay. */
  private async schedule(domainUuid: string, when: { now: boolean }): Promise<void> {
    let secondaries: Secondary[];
    try {
      secondaries = this.secondariesOf((await this.deps.copyPlanOf(domainUuid)).plan);
    } catch (err) {
      this.deps.log.warn({ domain_uuid: domainUuid, err: (err as Error).message }, 'no copy plan for the domain; its points are not copied');
      return;
    }
    for (const secondary of secondaries) {
      this.setDue({ domainUuid, secondary, at: Date.now() + (when.now ? 0 : secondary.delayMs), retry: false });
    }
  }

  private secondariesOf(plan: Plan): Secondary[] {
    return plan.secondaries.flatMap(({ target, delay_s }) => {
      const found = this.deps.targets.find((t) => t.name === target);
      return found ? [{ target: found, delayMs: delay_s * 1000 }] : [];
    });
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

  /** Copies to the due secondaries the plan chooses for the domain, in the plan's fill order. */
  private async replicateDomain(domainUuid: string, due: Secondary[]): Promise<void> {
    let copyPlan: DomainCopyPlan;
    try {
      copyPlan = await this.deps.copyPlanOf(domainUuid);
    } catch (err) {
      this.deps.log.warn({ domain_uuid: domainUuid, err: (err as Error).message }, 'no copy plan for the domain; its points are not copied');
      return;
    }
    for (const secondary of await this.chosen(domainUuid, copyPlan.plan, due)) {
      if (this.stopped) return;
      await this.deps.locks.run(domainUuid, () => this.copyTo(domainUuid, copyPlan.sources, secondary));
    }
  }

  /** The due secondaries that are among the plan's chosen ones (`chooseSecondaries`), in its order. */
  private async chosen(domainUuid: string, plan: Plan, due: Secondary[]): Promise<Secondary[]> {
    const all = this.secondariesOf(plan);
    const free = new Map(await Promise.all(all.map(async (s) => [s.target.name, await s.target.freeSpace().then((f) => f?.free_bytes ?? null, () => null)] as const)));
    const record = await this.record(domainUuid);
    const holding = new Set(Object.entries(record.targets).filter(([, copies]) => copies.points.length > 0).map(([name]) => name));
    return chooseSecondaries(plan, free, holding).flatMap((spec) => due.filter((s) => s.target.name === spec.target));
  }

  private async copyTo(domainUuid: string, sources: readonly RepositoryTarget[], secondary: Secondary): Promise<void> {
    const { target } = secondary;
    const base = { domain_uuid: domainUuid, target: target.name, location: target.location };
    const started = Date.now();
    const copying: string[] = [];
    try {
      let copied: string[] = [];
      let bytes = 0;
      let present: Manifest[] = [];
      // Oldest chains first: a chain in slow is older than the chains in fast.
      for (const source of [...sources].reverse()) {
        const sync = await syncDomain(source, target, domainUuid, {
          signal: this.abort.signal,
          onPoint: (point) => {
            copying.push(point.backup_id);
            if (copying.length === 1) this.deps.report('start', { ...base, backup_ids: [point.backup_id] });
          },
        });
        copied = [...copied, ...sync.copied];
        bytes += sync.bytes;
        present = sync.present;
        if (sync.skipped.length > 0) this.deps.log.warn({ ...base, source: source.name, skipped: sync.skipped }, 'points not copied: their parent is on neither target');
      }
      await this.saveCopies(domainUuid, target.name, {
        points: present.map((p) => ({ backup_id: p.backup_id, created_at: p.created_at })),
        synced_at: new Date().toISOString(),
        failures: 0,
        last_error: null,
      });
      if (copied.length === 0) return;
      const event = { ...base, backup_ids: copied, bytes, duration_ms: Date.now() - started, rpo_s: await this.rpoSeconds(domainUuid) };
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
