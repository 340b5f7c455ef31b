/**
 * Hand-made AMQP traffic for wire-level tests: bodies the real clients would never send
 * (oversized, malformed, odd reply queues), published with plain amqplib.
 */
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel } from 'amqplib';
import { RABBIT_URL } from './rabbit.js';

/** Every message one call's reply queue received, in order; the last one has `ending: true`. */
export interface RawCallReplies {
  replies: Record<string, unknown>[];
  heartbeats: number;
  final: Record<string, unknown>;
}

export class RawBus {
  private constructor(
    private readonly model: ChannelModel,
    readonly exchange: string,
    readonly topic: string,
  ) {}

  static async connect(exchange: string, topic: string): Promise<RawBus> {
    return new RawBus(await amqp.connect(RABBIT_URL), exchange, topic);
  }

  /** A reply queue name of oslo's shape: `reply_` + 32 hex. */
  static replyQueueName(): string {
    return `reply_${randomUUID().replace(/-/g, '')}`;
  }

  /** Publishes `body` on the topic and waits for the broker's confirm. */
  async publish(body: Buffer | string): Promise<void> {
    const ch = await this.model.createConfirmChannel();
    try {
      await new Promise<void>((resolve, reject) =>
        ch.publish(this.exchange, this.topic, Buffer.isBuffer(body) ? body : Buffer.from(body), { contentType: 'application/json' }, (err: unknown) =>
          err ? reject(err) : resolve(),
        ),
      );
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /**
   * Declares a private reply queue, publishes what `build` makes of it (and a fresh msg id),
   * and collects every message on it until the ending one. `linger` ms more are waited after
   * it, so heartbeats that keep coming are counted too.
   */
  async call(build: (replyQ: string, msgId: string) => Buffer, opts: { timeoutMs?: number; lingerMs?: number } = {}): Promise<RawCallReplies> {
    const ch = await this.model.createChannel();
    const replyQ = RawBus.replyQueueName();
    const msgId = randomUUID().replace(/-/g, '');
    await ch.assertQueue(replyQ, { exclusive: true, autoDelete: true });
    const replies: Record<string, unknown>[] = [];
    try {
      const ended = new Promise<void>((resolve, reject) => {
        const timeoutMs = opts.timeoutMs ?? 15_000;
        const t = setTimeout(() => reject(new Error(`no ending reply on ${replyQ} within ${timeoutMs} ms`)), timeoutMs);
        void ch.consume(
          replyQ,
          (m) => {
            if (!m) return;
            const body = JSON.parse(JSON.parse(m.content.toString())['oslo.message']) as Record<string, unknown>;
            replies.push(body);
            if (body['ending'] === true) {
              clearTimeout(t);
              resolve();
            }
          },
          { noAck: true },
        );
      });
      ch.publish(this.exchange, this.topic, build(replyQ, msgId), { contentType: 'application/json', contentEncoding: 'utf-8' });
      await ended;
      if (opts.lingerMs) await new Promise((r) => setTimeout(r, opts.lingerMs));
    } finally {
      await ch.close().catch(() => {});
    }
    const final = replies.find((r) => r['ending'] === true)!;
    if (final['_msg_id'] !== msgId) throw new Error(`reply for ${String(final['_msg_id'])}, expected ${msgId}`);
    return { replies, heartbeats: replies.filter((r) => r['ending'] === false).length, final };
  }

  /** Declares a plain, non-exclusive queue, for checks of what the agent publishes there. */
  async declareQueue(name: string): Promise<void> {
    const ch = await this.model.createChannel();
    await ch.assertQueue(name, { durable: false, autoDelete: false });
    await ch.close();
  }

  async messageCount(queue: string): Promise<number> {
    const ch = await this.model.createChannel();
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => {});
  }
}
