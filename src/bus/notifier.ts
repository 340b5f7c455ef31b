/**
 * Publishes oslo 2.0 notifications on the control exchange with routing key
 * `<topic>.<priority lowercase>` for each configured topic, declaring and binding the
 * queue of that name once per connection (as oslo's notify_send does), on a confirm
 * channel so that a resolved notify() means the broker has the message.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import type { BusConnection } from './connection.js';
import { type Priority, encodeEnvelope, notificationMessage } from './envelope.js';
import { type BusOptions, controlExchange, notificationQueue, notificationRoutingKey, validateOptions } from './options.js';

export type { Priority } from './envelope.js';

export interface NotifierOptions {
  bus: BusOptions;
  connection: BusConnection;
  logger: Logger;
  /** publisher_id is `virt-dr.<host>`; default host = bus.server. */
  host?: string;
  /** How long notify() keeps retrying across reconnects; default 30 s. */
  sendTimeoutMs?: number;
}

/** How long stop() waits for notifications under way. */
const STOP_GRACE_MS = 5000;

const PRIORITIES: ReadonlySet<string> = new Set(['INFO', 'WARN', 'ERROR', 'DEBUG']);

export class Notifier {
  private readonly log: Logger;
  private channel: ConfirmChannel | null = null;
  /** Declared (topic, priority) keys for the current channel. */
  private declared = new Map<string, Promise<void>>();
  private unregister: (() => void) | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private started = false;
  readonly publisherId: string;

  constructor(private readonly opts: NotifierOptions) {
    validateOptions(opts.bus);
    this.log = opts.logger.child({ component: 'bus.notifier' });
    this.publisherId = `virt-dr.${opts.host ?? opts.bus.server}`;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.unregister = await this.opts.connection.register('notifier', (m) => this.setup(m));
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    // Let notifications already under way go out first: the last words of jobs that a
    // shutdown cancelled are exactly the ones an operator needs to see.
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
    this.started = false;
    this.unregister?.();
    this.unregister = null;
    const ch = this.channel;
    this.channel = null;
    this.declared = new Map();
    if (ch) {
      await ch.waitForConfirms().catch(() => {});
      await ch.close().catch(() => {});
    }
  }

  private async setup(model: ChannelModel): Promise<void> {
    if (!this.started) return;
    const ch = await model.createConfirmChannel();
    ch.on('error', (err: Error) => this.log.warn({ err: err.message }, 'notifier channel error'));
    ch.on('close', () => {
      if (this.channel === ch) {
        this.channel = null;
        this.declared = new Map();
      }
    });
    const ex = controlExchange(this.opts.bus);
    await ch.assertExchange(ex.name, ex.type, { durable: ex.durable, autoDelete: ex.autoDelete });
    this.declared = new Map();
    this.channel = ch;
  }

  private declare(ch: ConfirmChannel, topic: string, priority: Priority): Promise<void> {
    const key = notificationRoutingKey(topic, priority);
    let p = this.declared.get(key);
    if (!p) {
      const q = notificationQueue(this.opts.bus, topic, priority);
      p = (async () => {
        await ch.assertQueue(q.name, { durable: q.durable, autoDelete: q.autoDelete, arguments: q.arguments });
        await ch.bindQueue(q.name, q.bindExchange, q.routingKey);
      })();
      const declared = this.declared;
      declared.set(key, p);
      p.catch(() => declared.delete(key));
    }
    return p;
  }

  /**
   * Sends one notification to every configured topic. Resolves once the broker confirmed
   * each; retries across reconnects until sendTimeoutMs, then rejects.
   * `context` is the request's context (keys with or without `_context_`); keys naming a
   * token, password or secret are dropped.
   */
  notify(eventType: string, priority: Priority, payload: object, context: Record<string, unknown>): Promise<void> {
    const sending = this.send(eventType, priority, payload, context);
    this.inFlight.add(sending);
    const forget = () => this.inFlight.delete(sending);
    sending.then(forget, forget);
    return sending;
  }

  private async send(eventType: string, priority: Priority, payload: object, context: Record<string, unknown>): Promise<void> {
    if (!PRIORITIES.has(priority)) throw new TypeError(`invalid notification priority ${String(priority)}`);
    if (!this.started) throw new Error('notifier not started');
    const msg = notificationMessage({ publisherId: this.publisherId, eventType, priority, payload, context });
    const content = encodeEnvelope(msg);
    const deadline = Date.now() + (this.opts.sendTimeoutMs ?? 30_000);
    for (const topic of this.opts.bus.notificationTopics) {
      const key = notificationRoutingKey(topic, priority);
      for (let attempt = 1; ; attempt++) {
        try {
          const ch = this.channel;
          if (!ch) throw new Error('notifier channel not open');
          await this.declare(ch, topic, priority);
          await new Promise<void>((resolve, reject) => {
            try {
              ch.publish(
                this.opts.bus.exchange,
                key,
                content,
                {
                  contentType: 'application/json',
                  contentEncoding: 'utf-8',
                  deliveryMode: 2,
                },
                (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
              );
            } catch (err) {
              reject(err);
            }
          });
          this.log.debug({ event_type: eventType, priority, routing_key: key, message_id: msg['message_id'] }, 'notification sent');
          break;
        } catch (err) {
          const left = deadline - Date.now();
          if (left <= 0 || !this.started) {
            this.log.error({ event_type: eventType, routing_key: key, err: (err as Error)?.message }, 'notification not sent');
            throw err;
          }
          this.log.warn({ event_type: eventType, attempt, err: (err as Error)?.message }, 'notification not sent; retrying');
          await this.opts.connection.waitConnected(left).catch(() => {});
          await new Promise((r) => setTimeout(r, Math.min(100 * attempt, 1000)));
        }
      }
    }
  }
}
