import { randomBytes, randomUUID } from 'node:crypto';

/** Job ids are UUIDs: they name journal files, so the format is checked on the way in. */
export function newJobId(): string {
  return randomUUID();
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value.toLowerCase());
}

/**
 * Backup ids sort by time as plain strings and are safe as folder names:
 * `20261124T015319Z-3fa9c2`. The random tail keeps two points in one second apart.
 */
export function newBackupId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export function isBackupId(value: string): boolean {
  return BACKUP_ID_PATTERN.test(value);
}
