import type { Logger } from 'pino';
import type { BackupRequest } from '../backup/request.js';
import { DomainBusy } from '../errors.js';
import type { DomainRef } from '../libvirt/hypervisor.js';
import type { Policy, Schedule } from '../policy/policy.js';
import { decideDue, type DueDecision } from '../policy/schedule/due.js';
import { defaultJitterS, jitterMs } from '../policy/schedule/jitter.js';
import type { DomainRecordStore } from '../util/domain-records.js';
import { emptyScheduleRecord, type ScheduleRecord } from './schedule-record.js';

export interface SchedulerDeps {
  /** The domains on this host (libvirt's). */
  listDomains: () => Promise<DomainRef[]>;
  /** The domain's resolved policy; throws when its layers do not resolve (logged, the domain waits). */
  policyOf: (domain: DomainRef) => Promise<Policy>;
  /** Submits through the same checks a bus request passes; DomainBusy when another job runs. */
  submitBackup: (domain: DomainRef, request: BackupRequest, uniqueId: string) => Promise<{ job_id: string }>;
  records: Pick<DomainRecordStore<ScheduleRecord>, 'load' | 'save'>;
  now: () => Date;
  log: Logger;
  /** How often the domain list and the policies are read again. */
  rescanMs: number;
}

/** A domain's schedule as get_policy shows it. */
export type ScheduleStatus = Omit<ScheduleRecord, 'domain_uuid'> & { next_start: string | null };

/** A slot whose domain was busy is tried again this much later, until it starts. */
export const BUSY_RETRY_MS = 30_000;

interface Planned {
  domain: DomainRef;
  schedule: Schedule;
  policy: Policy;
  jitterMs: number;
  /** When to look at the domain again: its next start, or a busy slot's retry. */
  wakeAt: number;
}

/**
 * Runs each domain's scheduled backups. The decision for a domain is `decideDue`, a pure
 * function of its persisted record and the clock; this class only keeps one timer for the
 * earliest wake-up, persists each decision, and submits the backup job. Jobs queue in the
 * job runner, so the host's concurrency limit holds however many domains share a slot,
 * and jitter spreads their starts.
 */
export class Scheduler {
  private readonly planned = new Map<string, Planned>();
  private runningSince = new Date(0);
  private timer: NodeJS.Timeout | undefined;
  private nextRescan = 0;
  private stopped = false;
  private pass: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SchedulerDeps) {}

  async start(): Promise<void> {
    this.runningSince = this.deps.now();
    await this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass.catch(() => undefined);
  }

  /** A policy changed: read the domains and policies again now. */
  policiesChanged(): void {
    this.nextRescan = 0;
    void this.wake();
  }

  /** What get_policy shows of a domain's schedule: its record, and when it is next looked at (null: not scheduled). */
  async statusOf(domainUuid: string): Promise<ScheduleStatus> {
    const { domain_uuid: _uuid, ...record } = (await this.deps.records.load(domainUuid).catch(() => null)) ?? emptyScheduleRecord(domainUuid);
    const planned = this.planned.get(domainUuid);
    return { ...record, next_start: planned && planned.wakeAt > 0 ? new Date(planned.wakeAt).toISOString() : null };
  }

  /** One pass at a time: a timer that fires during a pass waits for it. */
  private wake(): Promise<void> {
    this.pass = this.pass.then(() => this.runPass()).catch((err: Error) => this.deps.log.error({ err: err.message }, 'scheduler pass failed'));
    return this.pass;
  }

  private async runPass(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const now = this.deps.now().getTime();
    if (now >= this.nextRescan) {
      await this.rescan();
      this.nextRescan = now + this.deps.rescanMs;
    }
    for (const planned of [...this.planned.values()]) {
      if (planned.wakeAt <= this.deps.now().getTime()) await this.visit(planned);
    }
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    const wakeAt = Math.min(this.nextRescan, ...[...this.planned.values()].map((p) => p.wakeAt));
    this.timer = setTimeout(() => void this.wake(), Math.max(0, Math.min(wakeAt - this.deps.now().getTime(), this.deps.rescanMs)));
    this.timer.unref();
  }

  /** Reads the domains and their policies; a domain that gains a schedule is visited at once. */
  private async rescan(): Promise<void> {
    const seen = new Set<string>();
    for (const domain of await this.deps.listDomains()) {
      seen.add(domain.uuid);
      let policy: Policy;
      try {
        policy = await this.deps.policyOf(domain);
      } catch (err) {
        this.deps.log.warn({ domain: domain.name, domain_uuid: domain.uuid, err: (err as Error).message }, 'policy does not resolve; the domain is not scheduled');
        this.planned.delete(domain.uuid);
        continue;
      }
      const schedule = policy.schedule;
      if (schedule === null) {
        this.planned.delete(domain.uuid);
        continue;
      }
      const before = this.planned.get(domain.uuid);
      const jitter = jitterMs(domain.uuid, policy.jitter_s ?? defaultJitterS(schedule));
      const changed = !before || JSON.stringify(before.schedule) !== JSON.stringify(schedule) || before.jitterMs !== jitter;
      this.planned.set(domain.uuid, { domain, schedule, policy, jitterMs: jitter, wakeAt: changed ? 0 : before.wakeAt });
    }
    for (const uuid of this.planned.keys()) if (!seen.has(uuid)) this.planned.delete(uuid);
  }

  /** Decides for one domain, persists the decision, and starts its run if one is due. */
  private async visit(planned: Planned): Promise<void> {
    const { domain } = planned;
    const record = await this.loadRecord(domain);
    if (record.pending_slot !== null) {
      planned.wakeAt = await this.submit(planned, record, record.pending_slot);
      if (record.pending_slot !== null) return;
    }
    let decision: DueDecision;
    try {
      decision = decideDue({
        schedule: planned.schedule,
        state: record,
        missed: planned.policy.missed,
        jitterMs: planned.jitterMs,
        now: this.deps.now(),
        runningSince: this.runningSince,
      });
    } catch (err) {
      this.deps.log.error({ domain: domain.name, err: (err as Error).message }, 'schedule cannot be followed');
      planned.wakeAt = this.deps.now().getTime() + this.deps.rescanMs;
      return;
    }
    if (decision.missed) {
      const { count, countIsExact, first, last } = decision.missed;
      this.deps.log.warn(
        { domain: domain.name, domain_uuid: domain.uuid, missed: count, exact: countIsExact, first: first.toISOString(), last: last.toISOString(), missed_policy: planned.policy.missed, caught_up: decision.run?.slot.toISOString() ?? null },
        decision.run ? 'slots passed while the agent was down; the newest runs now' : 'slots passed while the agent was down; skipped',
      );
    }
    record.next_slot = decision.next.slot.toISOString();
    planned.wakeAt = decision.next.startAt.getTime();
    if (!decision.run) {
      await this.deps.records.save(domain.uuid, record);
      return;
    }
    const slot = decision.run.slot.toISOString();
    // Claimed before the job exists: a crash in between submits the same slot again, once.
    record.last_slot = slot;
    record.pending_slot = slot;
    await this.deps.records.save(domain.uuid, record);
    const retryAt = await this.submit(planned, record, slot);
    if (record.pending_slot !== null) planned.wakeAt = retryAt;
  }

  /** Submits the slot's backup; clears the claim unless the domain is busy. Returns when to try again. */
  private async submit(planned: Planned, record: ScheduleRecord, slot: string): Promise<number> {
    const { domain, policy } = planned;
    const request: BackupRequest = { mode: 'auto', quiesce: policy.quiesce, kind: 'scheduled', engine: policy.engine, excludeDisks: policy.exclude_disks };
    try {
      const job = await this.deps.submitBackup(domain, request, `schedule:${domain.uuid}:${slot}`);
      record.last_job_id = job.job_id;
      record.last_error = null;
      this.deps.log.info({ domain: domain.name, domain_uuid: domain.uuid, slot, job_id: job.job_id }, 'scheduled backup submitted');
    } catch (err) {
      if (err instanceof DomainBusy) {
        this.deps.log.info({ domain: domain.name, slot, err: err.message }, 'domain busy; the scheduled backup waits');
        return this.deps.now().getTime() + BUSY_RETRY_MS;
      }
      record.last_error = (err as Error).message;
      this.deps.log.warn({ domain: domain.name, domain_uuid: domain.uuid, slot, err: (err as Error).message }, 'scheduled backup not started; the slot is skipped');
    }
    record.pending_slot = null;
    await this.deps.records.save(domain.uuid, record);
    return planned.wakeAt;
  }

  private async loadRecord(domain: DomainRef): Promise<ScheduleRecord> {
    try {
      return (await this.deps.records.load(domain.uuid)) ?? emptyScheduleRecord(domain.uuid);
    } catch (err) {
      // Starting afresh skips what the record knew, never runs a slot twice: its next slot is after now.
      this.deps.log.warn({ domain: domain.name, err: (err as Error).message }, 'schedule record unreadable; starting afresh');
      return emptyScheduleRecord(domain.uuid);
    }
  }
}
