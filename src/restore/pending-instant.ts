import { DomainRecordStore } from '../util/domain-records.js';
import { isBackupId, isUuid } from '../util/ids.js';
import type { RestorePlan } from './plan.js';

/**
 * An instant restore whose background copy has not finished: the domain runs on a disk
 * whose backing chain is in the repository. Host state, written before the domain first
 * starts on that chain and removed once the copy is complete and verified. While it
 * exists the points in `chain` cannot be deleted (BackupInUse), the domain takes no
 * backup (RestoreIncomplete), and each start of the agent resumes the copy.
 */
export interface PendingInstantRestore {
  /** The domain that runs on the restored disks (a new domain's own UUID for target "new"). */
  domain_uuid: string;
  domain_name: string;
  /** The domain whose repository folder holds the points. */
  source_uuid: string;
  backup_id: string;
  /** The points the disks read from: the restored one and its ancestors. */
  chain: string[];
  /** The restore's plan: the disks at their final paths, and what to remove once verified. */
  plan: RestorePlan;
  created_at: string;
}

/** `<state>/instant/<domain uuid>.json`, one per domain. */
export class PendingInstantStore {
  private readonly records: DomainRecordStore<PendingInstantRestore>;

  constructor(dir: string) {
    this.records = new DomainRecordStore(dir, parsePendingInstant);
  }

  save(record: PendingInstantRestore): Promise<void> {
    return this.records.save(record.domain_uuid, record);
  }

  load(domainUuid: string): Promise<PendingInstantRestore | null> {
    return this.records.load(domainUuid);
  }

  async list(): Promise<PendingInstantRestore[]> {
    const records: PendingInstantRestore[] = [];
    for (const uuid of await this.records.domains()) {
      const record = await this.load(uuid);
      if (record) records.push(record);
    }
    return records;
  }

  remove(domainUuid: string): Promise<void> {
    return this.records.remove(domainUuid);
  }

  /** The pending restore that reads from this point of `sourceUuid`, if any: the point must stay. */
  async userOf(sourceUuid: string, backupId: string): Promise<PendingInstantRestore | null> {
    return (await this.list()).find((r) => r.chain.includes(backupId) && sameUuid(r.source_uuid, sourceUuid)) ?? null;
  }
}

function sameUuid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export class InvalidPendingRecord extends Error {}

/**
 * The record is the agent's own, in its state folder, but a disk or a hand can damage
 * it: the fields the agent decides by are checked; the plan is the one the job journaled.
 */
export function parsePendingInstant(text: string): PendingInstantRestore {
  const raw = JSON.parse(text) as unknown;
  if (typeof raw !== 'object' || raw === null) throw new InvalidPendingRecord('not an object');
  const r = raw as Record<string, unknown>;
  const text_ = (key: string): string => {
    if (typeof r[key] !== 'string') throw new InvalidPendingRecord(`${key} must be a string`);
    return r[key];
  };
  const chain = r.chain;
  if (!Array.isArray(chain) || !chain.every((id) => typeof id === 'string' && isBackupId(id))) {
    throw new InvalidPendingRecord('chain must be a list of backup ids');
  }
  const plan = r.plan as RestorePlan | undefined;
  if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.disks)) throw new InvalidPendingRecord('plan has no disks');
  const record: PendingInstantRestore = {
    domain_uuid: text_('domain_uuid'),
    domain_name: text_('domain_name'),
    source_uuid: text_('source_uuid'),
    backup_id: text_('backup_id'),
    chain: chain as string[],
    plan,
    created_at: text_('created_at'),
  };
  if (!isUuid(record.domain_uuid) || !isUuid(record.source_uuid) || !isBackupId(record.backup_id)) {
    throw new InvalidPendingRecord('bad ids');
  }
  return record;
}
