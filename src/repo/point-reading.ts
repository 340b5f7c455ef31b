import { InvalidManifest, parseManifest } from './manifest.js';
import type { Manifest } from './point.js';

/**
 * Reading a point, apart from how its bytes were fetched: the file target reads them from
 * a folder, an SSH or S3 target from elsewhere, and all of them decide trust here.
 */

/** A point the agent keeps but does not trust: listed as such, never used, never deleted. */
export interface InvalidPoint {
  domain_uuid: string;
  /** The folder's name; null when the domain's folder itself cannot be trusted. */
  backup_id: string | null;
  /** Names repository entries only, never a host path: it goes into replies. */
  reason: string;
  /**
   * Set when the manifest reads as trusted but a disk file it names is absent: a point
   * that lost data (verify reports it `missing`), not a planted or damaged entry.
   */
  files_missing?: true;
}

/** What a domain's part of a repository holds. */
export interface PointScan {
  /** Trusted points, oldest first. */
  points: Manifest[];
  invalid: InvalidPoint[];
}

export type PointReading = { valid: true; manifest: Manifest } | { valid: false; reason: string; filesMissing?: true };

/** Where a point was found: the manifest must say the same, or it is not this point. */
export interface PointLocation {
  domainUuid: string;
  backupId: string;
}

const UTF8 = new TextDecoder('utf-8');

/** The file of a point folder that makes it a point; written last. */
export const MANIFEST = 'manifest.json';

/** The largest manifest.json read; the domain XML inside is what makes manifests large. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/**
 * Parses a manifest's bytes and checks that it belongs where it was found: a manifest
 * copied (or planted) under another domain's folder must not be restored as that domain.
 */
export function readPoint(bytes: Uint8Array, location: PointLocation): PointReading {
  let manifest: Manifest;
  try {
    manifest = parseManifest(UTF8.decode(bytes));
  } catch (err) {
    if (err instanceof InvalidManifest) return { valid: false, reason: err.message };
    throw err;
  }
  if (manifest.domain_uuid.toLowerCase() !== location.domainUuid.toLowerCase()) {
    return { valid: false, reason: `manifest domain_uuid ${manifest.domain_uuid} does not match its folder` };
  }
  if (manifest.backup_id !== location.backupId) {
    return { valid: false, reason: `manifest backup_id ${manifest.backup_id} does not match its folder` };
  }
  return { valid: true, manifest };
}

export function invalidPoint(location: { domainUuid: string; backupId: string | null }, reason: string, filesMissing?: true): InvalidPoint {
  return { domain_uuid: location.domainUuid, backup_id: location.backupId, reason, ...(filesMissing ? { files_missing: true } : {}) };
}

/** Oldest first, by creation time, then by id (ids sort by time too). */
export function sortPoints(points: Manifest[]): Manifest[] {
  return points.sort(olderFirst);
}

/** Points in the order listings give them: by creation, then by id. */
export function olderFirst(a: Pick<Manifest, 'created_at' | 'backup_id'>, b: Pick<Manifest, 'created_at' | 'backup_id'>): number {
  return a.created_at.localeCompare(b.created_at) || a.backup_id.localeCompare(b.backup_id);
}
