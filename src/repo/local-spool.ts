import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { isUuid } from '../util/ids.js';
import { checkedBackupId, type RepositoryLayout } from './layout.js';
import { OPENED_PREFIX } from './open-copies.js';

const FOLDER_MODE = 0o750;

/**
 * The local folders of a remote target (SSH, S3), one pair per target in the state folder:
 * the spool, where a new point's files are produced (`<spoolRoot>/<uuid>/<id>`) before they
 * are published, and the cache, where openPoints puts its verified copies. Target names
 * are plain path parts, so one target's sweep never touches another's.
 */
export class LocalSpool {
  constructor(
    private readonly spoolRoot: string,
    readonly cacheRoot: string,
    private readonly layout: RepositoryLayout,
  ) {}

  /** A point's spool folder; the same path every time. Checks the ids before building it. */
  folder(domainUuid: string, backupId: string): string {
    return join(this.spoolRoot, posix.basename(this.layout.domainDir(domainUuid)), checkedBackupId(backupId));
  }

  /** Empties (or makes) a point's spool folder. */
  async fresh(domainUuid: string, backupId: string): Promise<string> {
    const folder = this.folder(domainUuid, backupId);
    await rm(folder, { recursive: true, force: true });
    await mkdir(folder, { recursive: true, mode: FOLDER_MODE });
    return folder;
  }

  async discard(domainUuid: string, backupId: string): Promise<void> {
    await rm(this.folder(domainUuid, backupId), { recursive: true, force: true });
  }

  /**
   * Start-up: removes every spool folder and opened copy (nothing of this host can still
   * use them: jobs have not started); their paths.
   */
  async sweep(): Promise<string[]> {
    return [...(await removeEntries(this.spoolRoot, isUuid)), ...(await removeEntries(this.cacheRoot, (n) => n.startsWith(OPENED_PREFIX)))];
  }
}

/** Removes the entries of a local folder this target made (by name); their paths. */
async function removeEntries(folder: string, ours: (name: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed = names.filter(ours).map((n) => join(folder, n));
  for (const path of removed) await rm(path, { recursive: true, force: true });
  return removed;
}
