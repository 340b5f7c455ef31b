/**
 * oslo.messaging-compatible RPC server: consumes `T`, `T.S` and `T_fanout_<uuid>` on the
 * control exchange, dedupes `_unique_id`, checks the API version, hands each request to a
 * Dispatcher and replies (calls only) to the default exchange with key `_reply_q`.
 *
 * Dispatcher contract: the outer promise resolves when the request is ACCEPTED (e.g. the
 * job is persisted); only then is the AMQP message acked, so a crash before that means
 * redelivery, not loss. Then `result` is awaited (heartbeats `ending:false` every
 * `_timeout/2` s meanwhile, only when `_timeout` is a number) and the reply is sent.
 * A rejection of either promise is acked, answered with an oslo failure (calls) and
 * reported through `onRejected`. Malformed input is acked and reported with request null.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib';
import type { Logger } from 'pino';
import { InternalError, UnsupportedVersion, VirtDrError, asVirtDrError } from '../errors.js';
import { clip } from '../util/clip.js';
import type { BusConnection } from './connection.js';
import { type RpcRequest, encodeEnvelope, failureOf, readRequest, replyMessage, safeVersionIsCompatible } from './envelope.js';
import { heartbeatIntervalMs } from './limits.js';
import {
  type BusOptions,
  controlExchange,
  fanoutExchange,
  fanoutQueue,
  topicQueues,
  validateOptions,
} from './options.js';

export interface Accepted {
  result: Promise<unknown>;
}
export type Dispatcher = (request: RpcRequest) => Promise<Accepted>;
/**
 * Called when a request fails (either phase) or a message is malformed (request null; then
 * `context` holds whatever `_context_*` keys could still be read from it).
 */
export type RejectedHook = (
  request: RpcRequest | null,
  error: VirtDrError,
  context?: Record<string, unknown>,
) => void | Promise<void>;

export interface RpcServerOptions {
  bus: BusOptions;
  connection: BusConnection;
  dispatcher: Dispatcher;
  logger: Logger;
  onRejected?: RejectedHook;
  /** The RPC API version we implement; default '1.0'. */
  apiVersion?: string;
  /** Unacked messages per consumer; default 50. */
  prefetch?: number;
  /** How many `_unique_id`s to remember; default 1024. */
  dedupeSize?: number;
  /** How long a reply may wait for the broker to come back; default 60 s. */
  replyRetryMs?: number;
}

/** A bounded insertion-ordered set: remembers the last `max` ids. */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  /** True if `id` was seen before; otherwise remembers it. */
  seen(id: string): boolean {
    if (this.ids.has(id)) return true;
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return false;
  }
  get size(): number {
    return this.ids.size;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RpcServer {
  private readonly log: Logger;
  private readonly apiVersion: string;
  private readonly dedupe: RecentIds;
  private readonly fanoutId = randomUUID().replace(/-/g, '');
  private channel: Channel | null = null;
  private pubChannel: ConfirmChannel | null = null;
  private consumerTags: string[] = [];
  private unregister: (() => void) | null = null;
  private readonly accepting = new Set<Promise<void>>();
  private readonly heartbeats = new Set<NodeJS.Timeout>();
  private running = false;

  constructor(private readonly opts: RpcServerOptions) {
    validateOptions(opts.bus);
    this.log = opts.logger.child({ component: 'bus.rpc', topic: opts.bus.topic });
    this.apiVersion = opts.apiVersion ?? '1.0';
    this.dedupe = new RecentIds(opts.dedupeSize ?? 1024);
  }

  /** Names of the queues this server consumes (T, T.S, fanout). */
  get queueNames(): string[] {
    return [...topicQueues(this.opts.bus).map((q) => q.name), fanoutQueue(this.opts.bus, this.fanoutId).name];
  }

  /** Registers with the connection; declares and consumes now if it is up, and after every reconnect. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unregister = await this.opts.connection.register(`rpc:${this.opts.bus.topic}`, (m) => this.setup(m));
  }

  /** Cancels consumers, waits for in-flight accept phases, closes the channels. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unregister?.();
    this.unregister = null;
    const ch = this.channel;
    if (ch) {
      for (const tag of this.consumerTags) await ch.cancel(tag).catch(() => {});
    }
    this.consumerTags = [];
    await Promise.allSettled([...this.accepting]);
    for (const t of this.heartbeats) clearInterval(t);
    this.heartbeats.clear();
    this.channel = null;
    const pub = this.pubChannel;
    this.pubChannel = null;
    if (ch) await ch.close().catch(() => {});
    if (pub) await pub.close().catch(() => {});
  }

  private async setup(model: ChannelModel): Promise<void> {
    if (!this.running) return;
    const b = this.opts.bus;
    const ch = await model.createChannel();
    const pub = await model.createConfirmChannel();
    ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'RPC channel error'));
    pub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'reply channel error'));
    pub.on('return', (m: Message) =>
      this.log.warn({ reply_q: m.fields.routingKey }, 'reply undeliverable: reply queue does not exist'),
    );
    const lost = (which: string) => () => {
      if (this.running && (this.channel === ch || this.pubChannel === pub)) {
        this.opts.connection.forceReconnect(`${which} channel closed`);
      }
    };
    ch.on('close', lost('rpc'));
    pub.on('close', lost('reply'));

    const ex = controlExchange(b);
    await ch.assertExchange(ex.name, ex.type, { durable: ex.durable, autoDelete: ex.autoDelete });
    const fx = fanoutExchange(b);
    await ch.assertExchange(fx.name, fx.type, { durable: fx.durable, autoDelete: fx.autoDelete });
    const queues = [...topicQueues(b), fanoutQueue(b, this.fanoutId)];
    for (const q of queues) {
      await ch.assertQueue(q.name, { durable: q.durable, autoDelete: q.autoDelete, arguments: q.arguments });
      await ch.bindQueue(q.name, q.bindExchange, q.routingKey);
    }
    await ch.prefetch(this.opts.prefetch ?? 50);
    const tags: string[] = [];
    for (const q of queues) {
      const { consumerTag } = await ch.consume(q.name, (msg) => this.onMessage(ch, msg), { noAck: false });
      tags.push(consumerTag);
    }
    this.channel = ch;
    this.pubChannel = pub;
    this.consumerTags = tags;
    this.log.info({ exchange: b.exchange, queues: queues.map((q) => q.name) }, 'RPC server consuming');
  }

  private onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled our consumer (queue deleted, HA failover): redeclare everything.
      if (this.running && this.channel === ch) this.opts.connection.forceReconnect('consumer cancelled by broker');
      return;
    }
    this.handle(ch, msg).catch((err: unknown) => {
      this.log.error({ err: clip(String((err as Error)?.message ?? err)) }, 'unexpected error handling RPC message');
    });
  }

  private ack(ch: Channel, msg: ConsumeMessage): void {
    try {
      ch.ack(msg);
    } catch (err) {
      // The channel died under us: the broker will redeliver; the dedupe drops the copy.
      this.log.warn({ err: (err as Error).message }, 'ack failed (channel closed)');
    }
  }

  private async reject(ch: Channel, msg: ConsumeMessage | null, request: RpcRequest | null, error: VirtDrError): Promise<void> {
    if (msg) this.ack(ch, msg);
    if (request?.isCall && request.msgId && request.replyQueue) {
      await this.sendReply(request.replyQueue, request.msgId, { failure: failureOf(error, request.method) });
    }
    await this.callHook(request, error);
  }

  private async callHook(request: RpcRequest | null, error: VirtDrError, context?: Record<string, unknown>): Promise<void> {
    try {
      await this.opts.onRejected?.(request, error, context);
    } catch (err) {
      this.log.error({ err: (err as Error)?.message }, 'onRejected hook threw');
    }
  }

  private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const reading = readRequest(msg.content);
    if (!reading.ok) {
      const { error, salvaged } = reading;
      this.log.warn(
        {
          reason: error.message,
          queue: msg.fields.routingKey,
          bytes: msg.content.length,
          redelivered: msg.fields.redelivered,
          request_id: salvaged.requestId,
        },
        'malformed RPC message dropped',
      );
      this.ack(ch, msg);
      const target = salvaged.replyTarget;
      if (target) await this.sendReply(target.replyQueue, target.msgId, { failure: failureOf(error) });
      await this.callHook(null, error, salvaged.context);
      return;
    }
    const request = reading.request;

    const logFields = {
      method: request.method,
      request_id: request.requestId,
      msg_id: request.msgId,
      unique_id: request.uniqueId,
      call: request.isCall,
    };
    if (request.uniqueId !== null && this.dedupe.seen(request.uniqueId)) {
      this.log.warn(logFields, 'duplicate RPC message dropped');
      this.ack(ch, msg);
      return;
    }
    this.log.info(logFields, 'RPC request');

    const stopHeartbeat = this.startHeartbeat(request);
    try {
      if (!safeVersionIsCompatible(this.apiVersion, request.version)) {
        const error = new UnsupportedVersion(
          `Endpoint does not support RPC version ${request.version}. Attempted method: ${request.method}`,
        );
        this.log.warn({ ...logFields, version: request.version }, 'unsupported RPC version');
        stopHeartbeat();
        await this.reject(ch, msg, request, error);
        return;
      }

      let accepted: Accepted;
      const acceptPhase = Promise.resolve().then(() => this.opts.dispatcher(request));
      const tracked = acceptPhase.then(
        () => undefined,
        () => undefined,
      );
      this.accepting.add(tracked);
      try {
        accepted = await acceptPhase;
      } catch (err) {
        const error = asVirtDrError(err);
        this.log.warn({ ...logFields, ...errorFields(error) }, 'RPC request refused');
        stopHeartbeat();
        await this.reject(ch, msg, request, error);
        return;
      } finally {
        this.accepting.delete(tracked);
      }
      this.ack(ch, msg);

      let result: unknown;
      try {
        result = await accepted?.result;
      } catch (err) {
        const error = asVirtDrError(err);
        this.log.warn({ ...logFields, ...errorFields(error) }, 'RPC request failed');
        stopHeartbeat();
        await this.reject(ch, null, request, error);
        return;
      }
      // Heartbeats stop before the ending reply is published: a tick during its publish
      // confirm would otherwise reach the caller after it (seen under load).
      stopHeartbeat();
      if (request.isCall && request.msgId && request.replyQueue) {
        await this.sendReply(request.replyQueue, request.msgId, { result });
      }
    } finally {
      stopHeartbeat();
    }
  }

  /**
   * ending:false about every _timeout/2 s (clamped, see heartbeatIntervalMs), only when
   * _timeout is a number (else the client crashes).
   */
  private startHeartbeat(request: RpcRequest): () => void {
    if (!request.isCall || request.timeoutSeconds === null || !request.msgId || !request.replyQueue) return () => {};
    const { msgId, replyQueue } = request;
    const every = heartbeatIntervalMs(request.timeoutSeconds);
    const timer = setInterval(() => {
      const ch = this.pubChannel;
      if (!ch) return;
      try {
        ch.publish('', replyQueue, encodeEnvelope(replyMessage({ msgId, ending: false })), this.replyProps());
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'heartbeat not sent');
      }
    }, every);
    this.heartbeats.add(timer);
    return () => {
      clearInterval(timer);
      this.heartbeats.delete(timer);
    };
  }

  private replyProps() {
    return { mandatory: true, contentType: 'application/json', contentEncoding: 'utf-8' } as const;
  }

  /**
   * Publishes one ending reply; retries across reconnects for up to replyRetryMs. Only the
   * broker's side is retried (no channel, a closed channel, a nack): a reply that cannot
   * be encoded fails at once, since sending it again cannot help.
   */
  private async sendReply(
    replyQueue: string,
    msgId: string,
    body: { result?: unknown; failure?: ReturnType<typeof failureOf> },
  ): Promise<void> {
    let content: Buffer;
    try {
      content = encodeEnvelope(replyMessage({ msgId, ending: true, ...body }));
    } catch (err) {
      // A result that does not serialize (cycle, BigInt) becomes a failure, not silence.
      const error = asVirtDrError(err);
      this.log.error({ msg_id: msgId, ...errorFields(error) }, 'result not serializable; replying with a failure');
      content = encodeEnvelope(replyMessage({ msgId, ending: true, failure: failureOf(error) }));
    }
    const deadline = Date.now() + (this.opts.replyRetryMs ?? 60_000);
    for (let attempt = 1; ; attempt++) {
      const ch = this.pubChannel;
      try {
        if (!ch) throw new Error('no reply channel');
        await new Promise<void>((resolve, reject) => {
          try {
            ch.publish('', replyQueue, content, this.replyProps(), (err: unknown) => (err ? reject(err) : resolve()));
          } catch (err) {
            reject(isChannelClosed(err) ? err : new UnsendableReply(err));
          }
        });
        return;
      } catch (err) {
        const left = deadline - Date.now();
        if (err instanceof UnsendableReply || left <= 0 || (!this.running && !this.pubChannel)) {
          this.log.error({ msg_id: msgId, reply_q: replyQueue, err: clip(String((err as Error)?.message)) }, 'reply lost');
          return;
        }
        this.log.warn({ msg_id: msgId, attempt, err: clip(String((err as Error)?.message)) }, 'reply not sent; retrying');
        await this.opts.connection.waitConnected(left).catch(() => {});
        await sleep(Math.min(200 * attempt, 2000));
      }
    }
  }
}

/** amqplib throws IllegalOperationError from publish once the channel is closed. */
function isChannelClosed(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'IllegalOperationError';
}

/** amqplib refused to encode a reply (a field it cannot write): not a broker problem. */
class UnsendableReply extends Error {
  constructor(cause: unknown) {
    super(`reply cannot be encoded: ${String((cause as Error)?.message ?? cause)}`, { cause });
  }
}

/**
 * An error for a log line: its class and clipped message, and, for an error nobody
 * foresaw, its stack: it stays here, failure replies carry one line.
 */
function errorFields(error: VirtDrError): Record<string, unknown> {
  const fields: Record<string, unknown> = { error: error.name, reason: clip(error.message) };
  if (error instanceof InternalError) fields['stack'] = clip(String((error.cause as Error | undefined)?.stack ?? error.stack));
  return fields;
}
