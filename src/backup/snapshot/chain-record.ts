import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDirectory, writeJsonAtomic } from '../../util/atomic-file.js';
import { isUuid } from '../../util/ids.js';
import { InvalidArgument } from '../../errors.js';

/**
 * What the agent left on a domain's disks after its last good backup: for each disk, the
 * overlay it created (the active layer that collects writes since that backup) and the
 * layer beneath it. The next backup trusts an incremental only if the disk still looks
 * exactly like this.
 */
export interface ChainRecord {
  domain_uuid: string;
  last_backup_id: string;
  disks: Record<string, { overlay: string; base: string }>;
}

export class ChainRecordStore {
  constructor(private readonly dir: string) {}

  private path(domainUuid: string): string {
    if (!isUuid(domainUuid)) throw new InvalidArgument(`not a domain UUID: ${domainUuid}`);
    return join(this.dir, `${domainUuid.toLowerCase()}.json`);
  }

  async load(domainUuid: string): Promise<ChainRecord | null> {
    try {
      return JSON.parse(await readFile(this.path(domainUuid), 'utf8')) as ChainRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** The domain has no agent overlay any more (the checkpoint engine took over). */
  async forget(domainUuid: string): Promise<void> {
    await rm(this.path(domainUuid), { force: true });
  }

  async save(record: ChainRecord): Promise<void> {
    await ensureDirectory(this.dir);
    await writeJsonAtomic(this.path(record.domain_uuid), record);
  }
}
