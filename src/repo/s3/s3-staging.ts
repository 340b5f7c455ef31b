import { MANIFEST } from '../point-reading.js';
import type { RepositoryLayout } from '../layout.js';
import { keyOf } from './s3-entries.js';
import type { S3Objects } from './s3-objects.js';

/** The marker object inside a staging "folder": `<uuid>/.partial-<host>-<id>/writing`. */
const MARKER = 'writing';

/**
 * Which unpublished objects are this host's. S3 cannot rename, so a point's disk objects
 * go to their final keys and its manifest is put last (s3-entries.ts); before the first of
 * them this host puts its staging marker `<uuid>/.partial-<host>-<id>/writing`, the file
 * layout's staging folder, and removes it only once the manifest is in (or the point is
 * gone). So while the marker is there, everything under `<uuid>/<id>/` without a manifest,
 * and every multipart upload begun there, is this host's to resume or remove, and a crash
 * at any step leaves the marker that says so. Another host's marker is never touched.
 */
export class S3Staging {
  constructor(
    private readonly objects: S3Objects,
    private readonly layout: RepositoryLayout,
  ) {}

  /** Claims the point's keys for this host (before anything is written under them). */
  async mark(domainUuid: string, backupId: string): Promise<void> {
    await this.objects.put(this.markerKey(domainUuid, backupId), Buffer.from(JSON.stringify({ since: new Date().toISOString() }) + '\n'));
  }

  async isMarked(domainUuid: string, backupId: string): Promise<boolean> {
    return (await this.objects.anyBelow(`${keyOf(this.layout.partialDir(domainUuid, backupId))}/`));
  }

  /** Removes the claim alone: the point is published (or was never begun). */
  async unmark(domainUuid: string, backupId: string): Promise<void> {
    await this.objects.deleteKeys(await this.objects.listKeys(`${keyOf(this.layout.partialDir(domainUuid, backupId))}/`));
  }

  /**
   * Undoes what this host left of a point it did not finish: aborts its multipart uploads,
   * deletes its objects unless the point's manifest is in (a published point stays), then
   * drops the claim. Without this host's marker nothing is touched.
   */
  async clear(domainUuid: string, backupId: string): Promise<void> {
    if (!(await this.isMarked(domainUuid, backupId))) return;
    const pointKey = `${keyOf(this.layout.pointDir(domainUuid, backupId))}/`;
    for (const upload of await this.objects.pendingUploads(pointKey)) await this.objects.abortUpload(upload);
    if ((await this.objects.head(`${pointKey}${MANIFEST}`)) === null) {
      await this.objects.deleteKeys(await this.objects.listKeys(pointKey));
    }
    await this.unmark(domainUuid, backupId);
  }

  private markerKey(domainUuid: string, backupId: string): string {
    return `${keyOf(this.layout.partialDir(domainUuid, backupId))}/${MARKER}`;
  }
}
