import { isBackupId, isUuid } from '../util/ids.js';

/**
 * What a DR node keeps of each domain it failed over (`<state>/failover/<uuid>.json`),
 * written before the domain first runs there and removed once failback has stopped the
 * DR copy: where the domain came from, and which files on this node are its disks (the
 * only ones failback may remove).
 */
export interface FailoverRecord {
  domain_uuid: string;
  domain_name: string;
  /** The agent of the host the point was taken on (failback restores the domain there); null in points from before it was recorded. */
  home_host: string | null;
  /** The point the failover started from: its XML is the home host's own definition. */
  home_backup_id: string;
  /** The DR copy's disk files, as the failover placed them. */
  disks: string[];
  failed_over_at: string;
}

export class InvalidFailoverRecord extends Error {}

export function parseFailoverRecord(text: string): FailoverRecord {
  const raw = JSON.parse(text) as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null) throw new InvalidFailoverRecord('not an object');
  const text_ = (key: string): string => {
    if (typeof raw[key] !== 'string') throw new InvalidFailoverRecord(`${key} must be a string`);
    return raw[key];
  };
  const disks = raw.disks;
  if (!Array.isArray(disks) || !disks.every((d) => typeof d === 'string' && d.startsWith('/'))) throw new InvalidFailoverRecord('disks must be absolute paths');
  const record: FailoverRecord = {
    domain_uuid: text_('domain_uuid'),
    domain_name: text_('domain_name'),
    home_host: raw.home_host === null ? null : text_('home_host'),
    home_backup_id: text_('home_backup_id'),
    disks: disks as string[],
    failed_over_at: text_('failed_over_at'),
  };
  if (!isUuid(record.domain_uuid) || !isBackupId(record.home_backup_id)) throw new InvalidFailoverRecord('bad ids');
  return record;
}
