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
 * Backup ids sort by time as plain strings, to the millisecond, and are safe as folder
 * names: `20261124T015319123Z-3fa9c2`. The random tail keeps ids unique across hosts.
 */
export function newBackupId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** The backup id format, unanchored, for patterns that embed it (overlay file names). */
export const BACKUP_ID_SOURCE = '\\d{8}T\\d{9}Z-[0-9a-f]{6}';
const BACKUP_ID_PATTERN = new RegExp(`^${BACKUP_ID_SOURCE}$`);

export function isBackupId(value: string): boolean {
  return BACKUP_ID_PATTERN.test(value);
}

/**
 * Host names become part of staging folder names on a repository shared by hosts
 * (`.partial-<host>-<backup-id>`), so only plain host names are accepted: no path
 * separators, nothing that starts with a dot.
 */
const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isHostName(value: string): boolean {
  return HOST_NAME_PATTERN.test(value);
}

/**
 * A project (tenant) id as Keystone makes them (32 hex digits; other backends use names
 * of this alphabet). Project ids name policy files, so nothing else is accepted.
 */
const PROJECT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isProjectId(value: string): boolean {
  return PROJECT_ID_PATTERN.test(value);
}
