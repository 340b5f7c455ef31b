import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgument } from '../errors.js';
import { quote } from './clip.js';
import { ensureDirectory, writeJsonAtomic } from './atomic-file.js';
import { isUuid } from './ids.js';
import { entryKind, readRegularFile } from './no-follow-fs.js';

/** How a store names its files: which keys it takes, and the file name of each. */
export interface RecordKeys {
  /** What a key is, for the refusal of one that is not ("domain UUID"). */
  what: string;
  isKey(key: string): boolean;
  /** The file name's stem; the same for every spelling of one key. */
  stem(key: string): string;
}

export interface RecordStoreOptions {
  maxBytes?: number;
  /** The files' mode (before the umask). */
  fileMode?: number;
}

/**
 * Host state kept per key: `<dir>/<key>.json`, written atomically, read as a bounded
 * regular file (never through a symlink) and checked by `parse`, since a disk or a hand
 * can damage even the agent's own files. A key is checked before it becomes a file name.
 */
export class KeyedRecordStore<T> {
  private readonly maxBytes: number;
  private readonly fileMode: number | undefined;

  constructor(
    private readonly dir: string,
    private readonly keys: RecordKeys,
    /** `file` is the record's path, for the parser's messages. */
    private readonly parse: (text: string, file: string) => T,
    options: RecordStoreOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? 1 << 20;
    this.fileMode = options.fileMode;
  }

  async save(key: string, record: T): Promise<void> {
    const path = this.path(key);
    await ensureDirectory(this.dir);
    await writeJsonAtomic(path, record, this.fileMode);
  }

  async load(key: string): Promise<T | null> {
    const path = this.path(key);
    if ((await entryKind(path)) === 'missing') return null;
    return this.parse(new TextDecoder().decode(await readRegularFile(path, this.maxBytes)), path);
  }

  /** The keys that have a record. */
  async keysStored(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n.endsWith('.json') && this.keys.isKey(n.slice(0, -5))).map((n) => n.slice(0, -5));
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  /** The record's file; `key` refused unless it is one (it never reaches a path unchecked). */
  path(key: string): string {
    if (!this.keys.isKey(key)) throw new InvalidArgument(`not a ${this.keys.what}: ${quote(key)}`);
    return join(this.dir, `${this.keys.stem(key)}.json`);
  }
}

const DOMAIN_UUIDS: RecordKeys = { what: 'domain UUID', isKey: isUuid, stem: (uuid) => uuid.toLowerCase() };

/** Host state kept per domain: `<dir>/<domain uuid>.json`. */
export class DomainRecordStore<T> extends KeyedRecordStore<T> {
  constructor(dir: string, parse: (text: string, file: string) => T, options: RecordStoreOptions = {}) {
    super(dir, DOMAIN_UUIDS, parse, options);
  }

  /** The domains that have a record. */
  domains(): Promise<string[]> {
    return this.keysStored();
  }
}
