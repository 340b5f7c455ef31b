import { TargetOperationFailed } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { SshConnection } from './connection.js';
import { downloadHashed } from './download.js';
import type { RemoteFs } from './remote-fs.js';
import type { TokenBucket } from '../throttle.js';

/**
 * The sha256 of a file as the target stores it, to verify an upload.
 *
 * Which way: `sha256sum` run on the target over an exec channel. The target reads its
 * own disk, so checking a 100 GiB image costs no second transfer over the (often slow,
 * rate-limited) link, where reading it back over SFTP would double the bytes moved. The
 * command runs through the account's shell, so its one argument is strictly single-quoted;
 * it is only ever the configured root (held to a plain character set by parseSshUrl) plus
 * checked ids and manifest file names.
 *
 * An account that runs no commands (`ForceCommand internal-sftp`, a restricted shell, no
 * sha256sum) answers with no digest: then, and only then, the file is read back over
 * SFTP and hashed here, and the target remembers to do so from then on.
 */
export class RemoteHasher {
  private commandsWork: boolean | null = null;

  constructor(
    private readonly connection: SshConnection,
    private readonly fs: RemoteFs,
    private readonly bucket: TokenBucket | null,
    private readonly log: Logger,
  ) {}

  async sha256(path: string, signal: AbortSignal): Promise<string> {
    if (this.commandsWork !== false) {
      const digest = await this.byCommand(path, signal);
      if (digest) {
        this.commandsWork = true;
        return digest;
      }
      if (this.commandsWork === null) {
        this.log.info({ path }, 'the SSH target ran no sha256sum; uploads are verified by reading them back over SFTP');
        this.commandsWork = false;
      }
    }
    return (await downloadHashed(this.fs, path, { signal, bucket: this.bucket })).sha256;
  }

  /** The digest sha256sum printed, or null when the account cannot run it. */
  private async byCommand(path: string, signal: AbortSignal): Promise<string | null> {
    let result;
    try {
      result = await this.connection.exec(`sha256sum -b -- ${shellQuoted(path)}`, signal);
    } catch (err) {
      signal.throwIfAborted();
      // A refused channel is the server's policy; a dropped link is not, and surfaces.
      if (/channel open failure|administratively prohibited/i.test((err as Error).message)) return null;
      throw err;
    }
    const digest = /^\\?([0-9a-f]{64}) /.exec(result.stdout);
    if (result.code === 0 && digest) return digest[1]!;
    // 126/127: the shell found no runnable sha256sum; 0 without a digest, or no exit status: not a shell at all.
    if (result.code === null || result.code === 0 || result.code === 126 || result.code === 127) return null;
    throw new TargetOperationFailed(`sha256sum of ${path} on the target exited with ${result.code}: ${result.stderr.trim().slice(0, 200)}`);
  }
}

/** One shell word for any string: single quotes, and each embedded `'` as `'\''`. */
export function shellQuoted(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
