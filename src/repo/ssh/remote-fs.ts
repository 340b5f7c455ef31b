import { posix } from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { TargetOperationFailed, TargetUnreachable } from '../../errors.js';
import { kindOfStats, UnreadableEntry, wrongKind, type EntryKind } from '../../util/no-follow-fs.js';
import type { SshConnection } from './connection.js';

/**
 * The target's files through SFTP, as promises, with the file target's rules for what it
 * cannot trust (`util/no-follow-fs.ts`): entries are examined with lstat, a symlink is
 * reported as one and never followed, a tree is removed without following links, and a
 * manifest is read only as a bounded regular file. An entry that is not what it should
 * be is an UnreadableEntry naming it; a dropped link is TargetUnreachable, never taken
 * for a bad entry, so a point is not reported invalid because the network failed.
 *
 * SFTP (version 3) has no O_NOFOLLOW: a file is lstat-ed, opened, then fstat-ed, and an
 * entry swapped for a symlink in between could still be read once. What is read that way
 * is only ever judged (a manifest by readPoint, a disk by its sha256), never trusted.
 */
export interface RemoteFile {
  readonly sftp: SFTPWrapper;
  readonly handle: Buffer;
  readonly path: string;
}

export interface RemoteEntry {
  kind: EntryKind;
  size: number;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02). */
const NO_SUCH_FILE = 2;
const CONNECTION_CODES = new Set([6, 7]);

export class RemoteFs {
  constructor(private readonly connection: SshConnection) {}

  /** What is at `path` itself, and its size; `missing` when nothing is. */
  async lstat(path: string): Promise<RemoteEntry> {
    const sftp = await this.connection.sftp();
    try {
      const stats = await this.request<Stats>(sftp, (cb) => sftp.lstat(path, cb));
      return { kind: kindOfStats(stats), size: stats.size };
    } catch (err) {
      if (statusCode(err) === NO_SUCH_FILE) return { kind: 'missing', size: 0 };
      throw this.entryError(err, `${posix.basename(path)} cannot be examined`);
    }
  }

  async kind(path: string): Promise<EntryKind> {
    return (await this.lstat(path)).kind;
  }

  /** The names in a folder (not `.` and `..`); empty when the folder does not exist. */
  async list(path: string): Promise<string[]> {
    const sftp = await this.connection.sftp();
    try {
      const entries = await this.request<{ filename: string }[]>(sftp, (cb) => sftp.readdir(path, cb));
      return entries.map((e) => e.filename).filter((n) => n !== '.' && n !== '..');
    } catch (err) {
      if (statusCode(err) === NO_SUCH_FILE) return [];
      throw this.entryError(err, `${posix.basename(path)} cannot be listed`);
    }
  }

  /** Makes a folder; false when something was there already (the caller checks what). */
  async mkdir(path: string, mode = 0o750): Promise<boolean> {
    const sftp = await this.connection.sftp();
    try {
      await this.request(sftp, (cb) => sftp.mkdir(path, { mode }, cb));
      return true;
    } catch (err) {
      if (isConnectionError(err)) throw this.connection.translate(err, `making ${path}`);
      if ((await this.lstat(path)).kind !== 'missing') return false;
      throw this.connection.translate(err, `making ${path}`);
    }
  }

  /**
   * Renames with POSIX semantics (posix-rename@openssh.com: replaces a file or an empty
   * folder at `to` atomically), or with plain SFTP rename, which never replaces, where the
   * server lacks the extension.
   */
  async rename(from: string, to: string): Promise<void> {
    const sftp = await this.connection.sftp();
    await this.run(sftp, `renaming ${from} to ${to}`, (cb) => {
      try {
        sftp.ext_openssh_rename(from, to, cb);
      } catch {
        sftp.rename(from, to, cb);
      }
    });
  }

  async unlink(path: string): Promise<void> {
    const sftp = await this.connection.sftp();
    await this.run(sftp, `removing ${path}`, (cb) => sftp.unlink(path, cb));
  }

  /** Removes `path` and everything below it; a symlink is removed itself, never followed. */
  async removeTree(path: string): Promise<void> {
    const { kind } = await this.lstat(path);
    if (kind === 'missing') return;
    if (kind !== 'directory') return this.unlink(path);
    for (const name of await this.list(path)) await this.removeTree(posix.join(path, name));
    const sftp = await this.connection.sftp();
    await this.run(sftp, `removing ${path}`, (cb) => sftp.rmdir(path, cb));
  }

  /** statvfs@openssh.com of the file system holding `path`. */
  async statvfs(path: string): Promise<{ f_bavail: number; f_frsize: number; f_blocks: number }> {
    const sftp = await this.connection.sftp();
    return this.run(sftp, `reading the free space of ${path}`, (cb) => {
      try {
        sftp.ext_openssh_statvfs(path, cb);
      } catch {
        cb(new TargetOperationFailed('the server does not offer statvfs@openssh.com'));
      }
    });
  }

  /** Opens a file: 'r' to read, 'r+' to continue writing one, 'w' to create or empty it. */
  async open(path: string, flags: 'r' | 'r+' | 'w', mode = 0o640): Promise<RemoteFile> {
    const sftp = await this.connection.sftp();
    const handle = await this.run<Buffer>(sftp, `opening ${path}`, (cb) => sftp.open(path, flags, { mode }, cb));
    return { sftp, handle, path };
  }

  async fstat(file: RemoteFile): Promise<Stats> {
    return this.run(file.sftp, `examining ${file.path}`, (cb) => file.sftp.fstat(file.handle, cb));
  }

  /** Makes a written file durable on the target (fsync@openssh.com). */
  async fsync(file: RemoteFile): Promise<void> {
    await this.run(file.sftp, `syncing ${file.path}`, (cb) => {
      try {
        file.sftp.ext_openssh_fsync(file.handle, cb);
      } catch {
        cb(new TargetOperationFailed('the server does not offer fsync@openssh.com, so nothing it stores can be made durable'));
      }
    });
  }

  async close(file: RemoteFile): Promise<void> {
    await this.run(file.sftp, `closing ${file.path}`, (cb) => file.sftp.close(file.handle, cb));
  }

  /** Closes a file on a path that already failed: its own error would hide the first one. */
  async closeQuietly(file: RemoteFile): Promise<void> {
    await this.close(file).catch(() => undefined);
  }

  /** Writes all of `data` at `position`. */
  async write(file: RemoteFile, data: Buffer, position: number): Promise<void> {
    await this.run(file.sftp, `writing ${file.path}`, (cb) => file.sftp.write(file.handle, data, 0, data.length, position, cb));
  }

  /** Reads up to `length` bytes at `position` into a new buffer; shorter only at the end of the file. */
  async read(file: RemoteFile, position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    const bytesRead = await this.run<number>(file.sftp, `reading ${file.path}`, (cb) => file.sftp.read(file.handle, buffer, 0, length, position, cb));
    return buffer.subarray(0, bytesRead);
  }

  /** A regular file of at most `maxBytes`, read whole (the remote twin of readRegularFile). */
  async readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
    const name = posix.basename(path);
    const kind = await this.kind(path);
    if (kind !== 'file') throw wrongKind(path, kind);
    let file: RemoteFile;
    try {
      file = await this.open(path, 'r');
    } catch (err) {
      throw this.entryError(err, `${name} cannot be opened`);
    }
    try {
      const stats = await this.fstat(file);
      if (!stats.isFile()) throw new UnreadableEntry(`${name} is not a regular file`);
      if (stats.size > maxBytes) throw new UnreadableEntry(`${name} is larger than ${maxBytes} bytes (${stats.size})`);
      const chunks: Buffer[] = [];
      let length = 0;
      // One byte more than fstat said, to notice a file that grows while it is read.
      while (length <= stats.size) {
        const chunk = await this.read(file, length, stats.size + 1 - length);
        if (chunk.length === 0) break;
        chunks.push(chunk);
        length += chunk.length;
      }
      if (length > stats.size) throw new UnreadableEntry(`${name} grew while it was read`);
      return Buffer.concat(chunks, length);
    } catch (err) {
      throw this.entryError(err, `${name} cannot be read`);
    } finally {
      await this.closeQuietly(file);
    }
  }

  private async run<T = void>(sftp: SFTPWrapper, doing: string, call: Call<T>): Promise<T> {
    try {
      return await this.request<T>(sftp, call);
    } catch (err) {
      throw this.connection.translate(err, doing);
    }
  }

  /** One SFTP request, refused at once when its session has closed (ssh2 would never answer it). */
  private request<T = void>(sftp: SFTPWrapper, call: Call<T>): Promise<T> {
    if (!this.connection.isOpen(sftp)) return Promise.reject(new Error('the connection dropped'));
    return new Promise<T>((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value as T))));
  }

  /** An entry's own problem as UnreadableEntry; a dropped link stays TargetUnreachable. */
  private entryError(err: unknown, what: string): Error {
    if (err instanceof UnreadableEntry || err instanceof TargetUnreachable) return err;
    if (isConnectionError(err)) return this.connection.translate(err, what);
    const cause = err instanceof TargetOperationFailed ? ((err.cause as Error | undefined)?.message ?? err.message) : (err as Error).message;
    return new UnreadableEntry(`${what} (${cause})`);
  }
}

type Call<T> = (cb: (err: Error | null | undefined, value?: T) => void) => void;

function statusCode(err: unknown): number | null {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : null;
}

/** Anything but an SFTP status (other than "no connection" and "connection lost") is the link's. */
function isConnectionError(err: unknown): boolean {
  if (err instanceof TargetUnreachable) return true;
  const code = statusCode(err);
  return code === null ? !(err instanceof TargetOperationFailed) : CONNECTION_CODES.has(code);
}
