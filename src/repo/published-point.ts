import { InvalidRepositoryEntry } from '../errors.js';
import type { PointListing } from './point-listing.js';
import type { Manifest } from './point.js';

/**
 * True when the point is on the target already with the same disks (a publish whose reply
 * was lost, repeated); a different or untrusted point by that id is refused, never
 * replaced. The remote targets ask this before publishing.
 */
export async function alreadyPublished(listing: PointListing, manifest: Manifest, targetName: string): Promise<boolean> {
  const existing = await listing.readTrustedPoint(manifest.domain_uuid, manifest.backup_id);
  if (!existing) return false;
  const disksOf = (m: Manifest) => JSON.stringify(m.disks.map((d) => [d.file, d.size, d.sha256]));
  if (existing.valid && disksOf(existing.manifest) === disksOf(manifest)) return true;
  const why = existing.valid ? 'with other disks' : `and is not trusted: ${existing.reason}`;
  throw new InvalidRepositoryEntry(`backup ${manifest.backup_id} already exists on target ${targetName} ${why}; it is kept`);
}
