import { randomUUID } from 'node:crypto';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { encodeEnvelope, newUniqueId, unwrapEnvelope } from './index.js';
import { fanoutExchange } from './options.js';

/** A failure reply, as the agent (or any oslo server) sent it. */
export class RemoteError extends Error {
  constructor(
    readonly remoteClass: string,
    readonly remoteModule: string,
    message: string,
  ) {
    super(`${remoteClass}: ${message}`);
    this.name = 'RemoteError';
  }
}

export class CallTimeout extends Error {}

const PUBLISH_PROPERTIES = { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2 };

/** An ending reply's result, or its failure as a RemoteError. */
function outcomeOf(reply: Record<string, unknown>): unknown {
  if (!reply.failure) return reply.result;
  const failure = JSON.parse(String(reply.failure)) as { class: string; module: string; message: string };
  return new RemoteError(failure.class, failure.module, failure.message);
}

export interface Notification {
  event_type: string;
  priority: string;
  payload: Record<string, unknown>;
  publisher_id: string;
  timestamp: string;
}

export interface ClientOptions {
  url: string;
  exchange: string;
  topic: string;
  notificationTopic?: string;
  /** Must match the deployment's declare flags (amqp_durable_queues / quorum), as the agent's do. */
  durableExchange?: boolean;
}

/**
 * A small oslo.messaging RPC client for the `virt-dr` CLI and the tests: calls on the
 * shared topic (or one host's), a private reply queue, and a private queue bound to the
 * notification keys, so watching never steals messages from other listeners.
 */
export class RpcClient {
  private readonly pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; timeoutMs: number }
  >();
  /** Fanout calls: every answer to one message id, until its window closes. */
  private readonly gathering = new Map<string, (outcome: unknown) => void>();
  private readonly replyQueue = `reply_${randomUUID().replace(/-/g, '')}`;
  readonly requestId = `req-${randomUUID()}`;

  private constructor(
    private readonly model: ChannelModel,
    private readonly channel: Channel,
    private readonly options: ClientOptions,
  ) {}

  static async connect(options: ClientOptions): Promise<RpcClient> {
    // Small request frames must leave at once, not wait for a delayed ACK (see the agent's connection).
    const model = await amqp.connect(options.url, { noDelay: true });
    const channel = await model.createChannel();
    const client = new RpcClient(model, channel, options);
    // A dropped connection fails the pending calls instead of crashing the process.
    const fail = (err: Error) => client.failAll(err);
    model.on('error', fail);
    channel.on('error', fail);
    // Like oslo's own publisher: publishing to an undeclared exchange would close the channel.
    await channel.assertExchange(options.exchange, 'topic', { durable: options.durableExchange ?? false, autoDelete: false });
    await channel.assertQueue(client.replyQueue, { exclusive: true, autoDelete: true, durable: false });
    await channel.consume(client.replyQueue, (msg) => msg && client.onReply(msg.content), { noAck: true });
    return client;
  }

  /** Calls `method`; `server` targets one host's queue (T.<server>) instead of the shared one. */
  call<T = unknown>(method: string, args: Record<string, unknown>, opts: { timeoutMs?: number; server?: string } = {}): Promise<T> {
    const msgId = randomUUID().replace(/-/g, '');
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const result = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => this.expire(msgId), timeoutMs);
      this.pending.set(msgId, { resolve: resolve as (v: unknown) => void, reject, timer, timeoutMs });
    });
    this.publish(opts.server, {
      method,
      args,
      version: '1.0',
      _msg_id: msgId,
      _reply_q: this.replyQueue,
      // Heartbeats (ending: false) every _timeout/2 s keep a long call alive.
      _timeout: Math.max(2, Math.round(timeoutMs / 1000)),
    });
    return result;
  }

  /**
   * Calls `method` on every agent of the topic at once (its fanout exchange, which each
   * agent's server consumes) and gathers the answers that arrive within `windowMs`: a
   * result, or a RemoteError for an agent that refused. oslo itself offers no fanout
   * call; the agents answer it because a fanout message with `_msg_id` is a call to them.
   */
  async gather<T = unknown>(method: string, args: Record<string, unknown>, windowMs: number): Promise<(T | RemoteError)[]> {
    const fanout = fanoutExchange({ topic: this.options.topic });
    await this.channel.assertExchange(fanout.name, fanout.type, { durable: fanout.durable, autoDelete: fanout.autoDelete });
    const msgId = randomUUID().replace(/-/g, '');
    const answers: (T | RemoteError)[] = [];
    this.gathering.set(msgId, (outcome) => answers.push(outcome as T | RemoteError));
    const message = { method, args, version: '1.0', _msg_id: msgId, _reply_q: this.replyQueue, _timeout: null };
    this.channel.publish(fanout.name, this.options.topic, this.requestBody(message), PUBLISH_PROPERTIES);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    this.gathering.delete(msgId);
    return answers;
  }

  cast(method: string, args: Record<string, unknown>, opts: { server?: string } = {}): void {
    this.publish(opts.server, { method, args, version: '1.0' });
  }

  /** Delivers every notification on the exchange to `onEvent` until the client closes. */
  async watchNotifications(onEvent: (n: Notification) => void): Promise<void> {
    const topic = this.options.notificationTopic ?? 'notifications';
    const { queue } = await this.channel.assertQueue('', { exclusive: true, autoDelete: true });
    for (const priority of ['info', 'warn', 'error']) {
      await this.channel.bindQueue(queue, this.options.exchange, `${topic}.${priority}`);
    }
    await this.channel.consume(
      queue,
      (msg) => {
        if (!msg) return;
        try {
          onEvent(unwrapEnvelope(msg.content) as unknown as Notification);
        } catch {
          // not an oslo notification: ignore
        }
      },
      { noAck: true },
    );
  }

  async close(): Promise<void> {
    this.failAll(new Error('client closed'));
    await this.model.close().catch(() => undefined);
  }

  private failAll(err: Error): void {
    for (const [id, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(err);
      this.pending.delete(id);
    }
  }

  private publish(server: string | undefined, message: Record<string, unknown>): void {
    const routingKey = server ? `${this.options.topic}.${server}` : this.options.topic;
    this.channel.publish(this.options.exchange, routingKey, this.requestBody(message), PUBLISH_PROPERTIES);
  }

  private requestBody(message: Record<string, unknown>): Buffer {
    return encodeEnvelope({ ...message, _unique_id: newUniqueId(), _context_request_id: this.requestId, _context_user: 'virt-dr-cli' });
  }

  private onReply(content: Buffer): void {
    let reply: Record<string, unknown>;
    try {
      reply = unwrapEnvelope(content);
    } catch {
      return;
    }
    const msgId = String(reply._msg_id);
    const gathered = this.gathering.get(msgId);
    if (gathered) {
      if (reply.ending !== false) gathered(outcomeOf(reply));
      return;
    }
    const call = this.pending.get(msgId);
    if (!call) return;
    clearTimeout(call.timer);
    if (reply.ending === false) {
      call.timer = setTimeout(() => this.expire(msgId), call.timeoutMs);
      return;
    }
    this.pending.delete(msgId);
    const outcome = outcomeOf(reply);
    if (outcome instanceof RemoteError) call.reject(outcome);
    else call.resolve(outcome);
  }

  private expire(msgId: string): void {
    const call = this.pending.get(msgId);
    if (!call) return;
    this.pending.delete(msgId);
    call.reject(new CallTimeout(`no reply within ${call.timeoutMs} ms: is an agent listening?`));
  }
}
