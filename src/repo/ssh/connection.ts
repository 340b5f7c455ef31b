import { readFile } from 'node:fs/promises';
import { Client, type SFTPWrapper } from 'ssh2';
import { HostKeyRejected, InvalidArgument, TargetOperationFailed, TargetUnreachable, VirtDrError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { hostKeyAlgorithms, parseKnownHosts, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import type { SshUrl } from './ssh-url.js';

/**
 * One SSH connection to a target, opened when first needed, shared by every operation,
 * and opened again after it drops (the next call reconnects; a call cut off by the drop
 * fails with TargetUnreachable and its caller decides whether to repeat it). It
 * authenticates with the private key file only (no password, no agent), and trusts the
 * server only when its host key is one the known_hosts file records for it: the check
 * runs inside the handshake, before authentication, so nothing is sent to, let alone
 * written on, a host that is not the one configured. ssh2's errors become typed errors
 * here, each naming the target's location; key contents are never logged.
 */
export interface SshConnectionOptions {
  url: SshUrl;
  /** The target's URL without secrets, for messages. */
  location: string;
  privateKeyPath: string;
  knownHostsPath: string;
  log: Logger;
  /** Connect, handshake and authentication together; default 20 s. */
  connectTimeoutMs?: number;
  /** A keepalive every this many ms; three unanswered ones drop the connection. Default 10 s. */
  keepaliveIntervalMs?: number;
}

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  closed: boolean;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAX_EXEC_OUTPUT = 64 * 1024;

export class SshConnection {
  /** The connection in use, once open; null before, and again after it dropped. */
  private live: Session | null = null;
  /** The open under way, which concurrent callers share. */
  private opening: Promise<Session> | null = null;
  private readonly sessions = new WeakMap<SFTPWrapper, Session>();

  constructor(private readonly options: SshConnectionOptions) {}

  /** The SFTP session of the current connection (connecting first when there is none). */
  async sftp(): Promise<SFTPWrapper> {
    return (await this.current()).sftp;
  }

  /**
   * Whether a request may still be sent on `sftp`. ssh2 accepts a request on a session
   * whose channel has closed and never calls it back, so every request is checked first.
   */
  isOpen(sftp: SFTPWrapper): boolean {
    return this.sessions.get(sftp)?.closed === false;
  }

  /**
   * Runs `command` on the target (through the account's shell, so the caller quotes every
   * argument) and collects at most 64 KiB of its output; closes the channel on abort.
   */
  async exec(command: string, signal: AbortSignal): Promise<ExecResult> {
    const { client } = await this.current();
    signal.throwIfAborted();
    return new Promise<ExecResult>((resolve, reject) => {
      client.exec(command, (err, channel) => {
        if (err) return reject(this.translate(err, 'starting a remote command'));
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let size = 0;
        const keep = (into: Buffer[]) => (data: Buffer) => {
          if (size >= MAX_EXEC_OUTPUT) return;
          size += data.length;
          into.push(data);
        };
        const onAbort = () => channel.close();
        signal.addEventListener('abort', onAbort, { once: true });
        channel.on('data', keep(out));
        channel.stderr.on('data', keep(errOut));
        let code: number | null = null;
        channel.on('exit', (exitCode: number | null) => (code = exitCode));
        channel.on('close', () => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) return reject(signal.reason);
          resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') });
        });
        channel.end();
      });
    });
  }

  /** Ends the connection; the next call opens a new one. */
  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    const session = this.live;
    this.live = null;
    if (!session || session.closed) return;
    await new Promise<void>((resolve) => {
      // A peer that no longer answers never completes the close: it is cut after 5 s.
      const cut = setTimeout(() => session.client.destroy(), 5_000);
      session.client.once('close', () => {
        clearTimeout(cut);
        resolve();
      });
      session.client.end();
    });
  }

  /** Any error of an SSH or SFTP call as the agent's own, naming the target and what failed. */
  translate(err: unknown, doing: string): VirtDrError {
    if (err instanceof VirtDrError) return err;
    const { message, code } = err as { message?: string; code?: unknown };
    const what = `${this.options.location}: ${doing} failed: ${message ?? String(err)}`;
    // SFTP status codes are numbers; 6 and 7 (no connection, connection lost) are the link's.
    if (typeof code === 'number' && code !== 6 && code !== 7) return new TargetOperationFailed(what, { cause: err });
    return new TargetUnreachable(what, { cause: err });
  }

  private current(): Promise<Session> {
    if (this.live && !this.live.closed) return Promise.resolve(this.live);
    this.opening ??= this.open()
      .then((session) => (this.live = session))
      .finally(() => (this.opening = null));
    return this.opening;
  }

  private async open(): Promise<Session> {
    const { url, location, log } = this.options;
    const knownHosts = parseKnownHosts((await this.readConfigured(this.options.knownHostsPath, 'known_hosts file', HostKeyRejected)).toString('utf8'));
    const algorithms = hostKeyAlgorithms(knownHosts, url.host, url.port);
    if (algorithms.length === 0) {
      throw new HostKeyRejected(`${location}: refused: the host is not in the known_hosts file ${this.options.knownHostsPath}`);
    }
    const privateKey = await this.readConfigured(this.options.privateKeyPath, 'SSH key file', InvalidArgument);
    const client = new Client();
    let verdict: HostKeyVerdict | null = null;
    let isReady = false;
    // Always listened to: ssh2 may emit more than one error for one failure, and an
    // EventEmitter error nobody listens to would end the agent.
    client.on('error', (err: Error) => {
      if (isReady) log.warn({ err: err.message }, 'SSH connection error');
    });
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.on('error', reject);
      client.once('close', () => reject(new Error('the connection closed during the handshake')));
    });
    try {
      client.connect({
        host: url.host,
        port: url.port,
        username: url.user,
        privateKey,
        tryKeyboard: false,
        algorithms: { serverHostKey: algorithms as never },
        hostVerifier: (key: Buffer) => {
          verdict = verifyHostKey(knownHosts, url.host, url.port, key);
          return verdict.accepted;
        },
        readyTimeout: this.options.connectTimeoutMs ?? 20_000,
        keepaliveInterval: this.options.keepaliveIntervalMs ?? 10_000,
        keepaliveCountMax: 3,
      });
    } catch (err) {
      // ssh2 parses the key synchronously; its message describes the key, never shows it.
      throw new InvalidArgument(`${location}: the SSH key file ${this.options.privateKeyPath} cannot be used: ${(err as Error).message}`);
    }
    try {
      await ready;
    } catch (err) {
      client.end();
      const rejected = verdict as HostKeyVerdict | null;
      if (rejected && !rejected.accepted) throw new HostKeyRejected(`${location}: refused: ${rejected.detail}`, { cause: err });
      if (/host key format|hostkey/i.test((err as Error).message)) {
        throw new HostKeyRejected(`${location}: refused: it offers no host key of a type known_hosts records for it`, { cause: err });
      }
      throw this.translate(err, 'connecting');
    }
    isReady = true;
    let sftp: SFTPWrapper;
    try {
      sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    } catch (err) {
      client.end();
      throw this.translate(err, 'starting SFTP');
    }
    const session: Session = { client, sftp, closed: false };
    this.sessions.set(sftp, session);
    const forget = () => {
      session.closed = true;
      if (this.live === session) this.live = null;
    };
    client.once('close', () => {
      forget();
      log.info('SSH connection closed');
    });
    sftp.once('end', forget);
    sftp.once('close', () => {
      // The SFTP channel alone may end (the server's subsystem died): the connection goes too.
      forget();
      client.end();
    });
    log.info('SSH connection open');
    return session;
  }

  private async readConfigured(path: string, what: string, ErrorClass: typeof HostKeyRejected | typeof InvalidArgument): Promise<Buffer> {
    try {
      return await readFile(path);
    } catch (err) {
      throw new ErrorClass(`${this.options.location}: the ${what} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`);
    }
  }
}
