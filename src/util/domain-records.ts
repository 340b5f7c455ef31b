import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgument } from '../errors.js';
import { ensureDirectory, writeJsonAtomic } from './atomic-file.js';
import { isUuid } from './ids.js';
import { entryKind, readRegularFile } from './no-follow-fs.js';

/**
 * Host state kept per domain: `<dir>/<domain uuid>.json`, written atomically, read as a
 * bounded regular file (never through a symlink) and checked by `parse`, since a disk or
 * a hand can damage even the agent's own files.
 */
export class DomainRecordStore<T> {
  constructor(
    private readonly dir: string,
    private readonly parse: (text: string) => T,
    private readonly maxBytes = 1 << 20,
  ) {}

  async save(domainUuid: string, record: T): Promise<void> {
    await ensureDirectory(this.dir);
    await writeJsonAtomic(this.path(domainUuid), record);
  }

  async load(domainUuid: string): Promise<T | null> {
    const path = this.path(domainUuid);
    if ((await entryKind(path)) === 'missing') return null;
    return this.parse(new TextDecoder().decode(await readRegularFile(path, this.maxBytes)));
  }

  /** The domains that have a record. */
  async domains(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith('.json') && isUuid(n.slice(0, -5))).map((n) => n.slice(0, -5));
  }

  async remove(domainUuid: string): Promise<void> {
    await rm(this.path(domainUuid), { force: true });
  }

  private path(domainUuid: string): string {
    if (!isUuid(domainUuid)) throw new InvalidArgument(`not a domain UUID: ${domainUuid}`);
    return join(this.dir, `${domainUuid.toLowerCase()}.json`);
  }
}
