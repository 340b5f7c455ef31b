/**
 * Owns the one AMQP connection the RPC server and the notifier share.
 *
 * Uses amqplib's opt-in recovery: after every (re)connect, each registered participant's
 * `setup(model)` runs on the fresh raw connection before it is considered up; if one
 * fails, the connection is closed and retried with backoff. Participants therefore
 * (re)declare their topology and (re)create their channels in `setup`.
 */
import { EventEmitter } from 'node:events';
import amqp from 'amqplib';
import type { ChannelModel, RecoveringChannelModel, RecoveryOptions } from 'amqplib';
import type { Logger } from 'pino';
import { redactUrl } from '../log.js';

export type SetupFn = (model: ChannelModel) => Promise<void>;

export interface BusConnectionOptions {
  url: string;
  logger: Logger;
  /** Backoff knobs; defaults 200 ms doubling to 10 s, retry forever. */
  recovery?: Pick<RecoveryOptions, 'initialDelay' | 'maxDelay' | 'factor' | 'jitter' | 'initialMaxRetries'>;
  /** AMQP heartbeat seconds (default 30). */
  heartbeatSeconds?: number;
  /** Shown in the RabbitMQ management UI. */
  connectionName?: string;
}

export class BusConnection extends EventEmitter {
  private readonly log: Logger;
  private readonly participants = new Map<string, SetupFn>();
  private recovering: RecoveringChannelModel | null = null;
  private current: ChannelModel | null = null;
  private closing = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: BusConnectionOptions) {
    super();
    this.log = opts.logger.child({ component: 'bus.connection' });
  }

  /** The raw connection while it is up (for participants), else null. */
  get model(): ChannelModel | null {
    return this.current;
  }

  get isConnected(): boolean {
    return this.current !== null;
  }

  /**
   * Registers a setup run after every (re)connect. If already connected it also runs now
   * on the live connection. Returns an unregister function.
   */
  async register(name: string, setup: SetupFn): Promise<() => void> {
    this.participants.set(name, setup);
    if (this.current) {
      try {
        await setup(this.current);
      } catch (err) {
        this.participants.delete(name);
        throw err;
      }
    }
    return () => {
      if (this.participants.get(name) === setup) this.participants.delete(name);
    };
  }

  /** Connects (waits for the first connection; retries forever with backoff). */
  async start(): Promise<void> {
    if (this.recovering) return;
    this.closing = false;
    const url = this.opts.url;
    const safeUrl = redactUrl(url);
    const r = this.opts.recovery ?? {};
    const socketOptions = {
      heartbeat: this.opts.heartbeatSeconds ?? 30,
      // An RPC reply is written right after the request's ack. With Nagle on, it waits for
      // the broker's delayed ACK of that small write: 40 ms on every call (bench/, bus cost).
      noDelay: true,
      clientProperties: { connection_name: this.opts.connectionName ?? 'virt-dr-agent' },
      recovery: {
        initialDelay: r.initialDelay ?? 200,
        maxDelay: r.maxDelay ?? 10_000,
        factor: r.factor ?? 2,
        jitter: r.jitter ?? 0.2,
        maxRetries: Infinity,
        ...(r.initialMaxRetries !== undefined ? { initialMaxRetries: r.initialMaxRetries } : {}),
        waitForConnect: false,
        setup: async (model: ChannelModel) => {
          model.on('error', (err: Error) => this.log.warn({ err: err.message }, 'AMQP connection error'));
          for (const [name, setup] of [...this.participants]) {
            try {
              await setup(model);
            } catch (err) {
              this.log.error({ participant: name, err: (err as Error).message }, 'bus setup failed; reconnecting');
              throw err;
            }
          }
          this.current = model;
        },
      },
    };
    const rec = await amqp.connect(url, socketOptions);
    this.recovering = rec;
    rec.on('connect', () => {
      this.log.info({ url: safeUrl }, 'AMQP connected');
      const w = this.waiters.splice(0);
      for (const f of w) f();
      this.emit('connect');
    });
    rec.on('disconnect', (err: Error) => {
      this.current = null;
      this.log.warn({ url: safeUrl, err: err.message }, 'AMQP connection lost; reconnecting');
      this.emit('disconnect', err);
    });
    rec.on('connect-failed', (err: Error) => {
      this.log.warn({ url: safeUrl, err: err.message }, 'AMQP connect failed');
    });
    rec.on('reconnect-scheduled', (info: { attempt: number; delay: number }) => {
      this.log.info({ attempt: info.attempt, delay_ms: info.delay }, 'AMQP reconnect scheduled');
    });
    rec.on('reconnect-failed', (err: Error) => {
      this.log.error({ err: err.message }, 'AMQP recovery gave up');
    });
    rec.on('error', (err: Error) => this.log.warn({ err: err.message }, 'AMQP error'));
    rec.on('handler-error', (err: Error, event: string) =>
      this.log.error({ err: err.message, event }, 'AMQP handler threw'),
    );
    rec.on('blocked', (reason: string) => this.log.warn({ reason }, 'AMQP connection blocked by broker'));
    rec.on('unblocked', () => this.log.info('AMQP connection unblocked'));
    await rec.waitForConnect();
  }

  /** Resolves when connected (immediately if up); rejects after timeoutMs or on close. */
  waitConnected(timeoutMs = 30_000): Promise<void> {
    if (this.current) return Promise.resolve();
    if (this.closing) return Promise.reject(new Error('bus connection closed'));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`bus not connected after ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref?.();
      this.waiters.push(done);
    });
  }

  /**
   * Drops the live connection so recovery redoes every setup: the cure for a channel a
   * participant lost while the connection stayed up (e.g. its consumer was cancelled).
   */
  forceReconnect(reason: string): void {
    const m = this.current;
    if (!m || this.closing) return;
    this.log.warn({ reason }, 'forcing AMQP reconnect');
    this.current = null;
    m.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closing = true;
    const rec = this.recovering;
    this.recovering = null;
    this.current = null;
    this.waiters = [];
    if (rec) await rec.close().catch(() => {});
  }
}
