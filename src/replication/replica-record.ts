import { isBackupId, isUuid } from '../util/ids.js';

/**
 * What the agent knows of a domain's copies on its secondary targets, kept in host state
 * (`<state>/replication/<uuid>.json`) so `list_backups`, the RPO and the retry schedule
 * need no round trip to a remote target. Each sync lists the target again, so the record
 * is corrected by the target itself whenever it is reached.
 */
export interface ReplicaRecord {
  domain_uuid: string;
  targets: Record<string, TargetCopies>;
}

export interface TargetCopies {
  /** The points complete on the target when last looked at, oldest first. */
  points: { backup_id: string; created_at: string }[];
  /** When the last sync succeeded. */
  synced_at: string | null;
  /** Failed syncs since the last success: the retry backoff grows with them. */
  failures: number;
  last_error: string | null;
}

export function emptyCopies(): TargetCopies {
  return { points: [], synced_at: null, failures: 0, last_error: null };
}

export class InvalidReplicaRecord extends Error {}

export function parseReplicaRecord(text: string): ReplicaRecord {
  const raw = JSON.parse(text) as unknown;
  if (!isObject(raw) || typeof raw.domain_uuid !== 'string' || !isUuid(raw.domain_uuid) || !isObject(raw.targets)) {
    throw new InvalidReplicaRecord('not a replica record');
  }
  const targets: Record<string, TargetCopies> = {};
  for (const [name, value] of Object.entries(raw.targets)) {
    if (!isObject(value) || !Array.isArray(value.points) || typeof value.failures !== 'number') throw new InvalidReplicaRecord(`target ${name} is damaged`);
    const points = value.points.filter(
      (p): p is TargetCopies['points'][number] => isObject(p) && typeof p.backup_id === 'string' && isBackupId(p.backup_id) && typeof p.created_at === 'string',
    );
    targets[name] = {
      points: points.map((p) => ({ backup_id: p.backup_id, created_at: p.created_at })),
      synced_at: typeof value.synced_at === 'string' ? value.synced_at : null,
      failures: value.failures,
      last_error: typeof value.last_error === 'string' ? value.last_error : null,
    };
  }
  return { domain_uuid: raw.domain_uuid.toLowerCase(), targets };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
