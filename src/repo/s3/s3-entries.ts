import { posix } from 'node:path';
import { isBackupId, isUuid } from '../../util/ids.js';
import { UnreadableEntry, type EntryKind } from '../../util/no-follow-fs.js';
import type { EntryReader } from '../point-listing.js';
import { MANIFEST } from '../point-reading.js';
import type { S3Objects } from './s3-objects.js';

/**
 * A bucket seen as the file layout, for the listing every target shares (point-listing.ts).
 * Paths are POSIX paths whose key is the path without its leading '/'; a "folder" is a
 * key prefix with at least one object below it, a "file" an object.
 *
 * S3 has no rename, so a point is published by the PUT of its manifest, written last: a
 * point's folder exists when its `manifest.json` does. Disk objects whose manifest is not
 * there yet (an upload under way, or one a crash interrupted) are no point at all, not
 * even an untrusted one; the staging marker of the host writing them says whose they are
 * (s3-staging.ts). An object whose key is a folder's (`<uuid>/<id>` itself) is a "file"
 * there, which the listing reports as an entry that is not what it claims.
 */
export function s3Entries(objects: S3Objects, root: string): EntryReader {
  const isPointDir = (path: string) => {
    const steps = posix.relative(root, path).split('/');
    return steps.length === 2 && isUuid(steps[0]!) && isBackupId(steps[1]!);
  };
  return {
    async kind(path: string): Promise<EntryKind> {
      const key = keyOf(path);
      if (key !== '' && (await objects.head(key)) !== null) return 'file';
      if (isPointDir(path)) return (await objects.head(`${key}/${MANIFEST}`)) === null ? 'missing' : 'directory';
      return key === '' || (await objects.anyBelow(`${key}/`)) ? 'directory' : 'missing';
    },
    list(path: string): Promise<string[]> {
      const key = keyOf(path);
      return objects.listNames(key === '' ? '' : `${key}/`);
    },
    async readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
      const name = posix.basename(path);
      const bytes = await objects.get(keyOf(path), maxBytes);
      if (bytes === null) throw new UnreadableEntry(`${name} is missing`);
      if (bytes === 'too large') throw new UnreadableEntry(`${name} is larger than ${maxBytes} bytes`);
      return bytes;
    },
  };
}

/** The object key of a layout path. */
export function keyOf(path: string): string {
  return path.replace(/^\/+/, '');
}

/** The layout root of a bucket prefix: `/prefix`, or `/` for the bucket's root. */
export function rootOf(prefix: string): string {
  return `/${prefix}`;
}
