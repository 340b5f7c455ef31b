import type { Manifest } from './point.js';
import type { RepositoryTarget, TransferOptions } from './target.js';

/**
 * Copies one point from a target to another: opened on `from` (a local copy when `from`
 * is remote), published on `to` under `manifest` (the point's own, or one naming a new
 * tier), which checks every file against its sha256 and publishes with one rename.
 * Returns the bytes sent.
 */
export async function copyPoint(from: RepositoryTarget, to: RepositoryTarget, manifest: Manifest, options: TransferOptions = {}): Promise<number> {
  let bytes = 0;
  const opened = await from.openPoints(manifest.domain_uuid, [manifest.backup_id], { signal: options.signal });
  try {
    await to.publishPoint(manifest, opened.dirOf(manifest.backup_id), {
      signal: options.signal,
      onBytes: (sent) => {
        bytes += sent;
        options.onBytes?.(sent);
      },
    });
  } finally {
    await opened.release();
  }
  return bytes;
}
