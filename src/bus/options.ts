/**
 * Bus configuration and the declare arguments derived from it.
 *
 * Every flag here must match what oslo.messaging (impl_rabbit.py, 14.0.3) declares for the
 * same deployment options, or RabbitMQ answers 406 PRECONDITION_FAILED on redeclare.
 * All functions are pure so they can be unit-tested without a broker.
 */

export interface BusOptions {
  /** amqp://user:pass@host:port/vhost. Never log it unredacted (see redactUrl). */
  url: string;
  /** Control exchange E (oslo `control_exchange`), e.g. `openstack` or `nova`. */
  exchange: string;
  /** RPC topic T. */
  topic: string;
  /** Server name S (the host). */
  server: string;
  /** oslo `amqp_durable_queues`. */
  amqpDurableQueues: boolean;
  /** oslo `rabbit_quorum_queue`. */
  rabbitQuorumQueue: boolean;
  /** oslo `rabbit_ha_queues`. */
  rabbitHaQueues: boolean;
  /** oslo `rabbit_transient_queues_ttl` (seconds), default 1800. 0 disables x-expires. */
  transientQueuesTtlSeconds: number;
  /** oslo `[oslo_messaging_notifications] topics`, default ['notifications']. */
  notificationTopics: string[];
  /**
   * Whether this server takes requests from the shared queue T. A DR node's agent does
   * not: a call to "any agent" is about compute hosts' domains, and it must not land there.
   */
  sharedQueue: boolean;
}

export const DEFAULT_TRANSIENT_QUEUES_TTL_SECONDS = 1800;
export const DEFAULT_NOTIFICATION_TOPICS: readonly string[] = ['notifications'];

/** Fills defaults for the optional knobs. */
export function busOptions(
  o: Pick<BusOptions, 'url' | 'exchange' | 'topic' | 'server'> & Partial<BusOptions>,
): BusOptions {
  return {
    amqpDurableQueues: false,
    rabbitQuorumQueue: false,
    rabbitHaQueues: false,
    transientQueuesTtlSeconds: DEFAULT_TRANSIENT_QUEUES_TTL_SECONDS,
    notificationTopics: [...DEFAULT_NOTIFICATION_TOPICS],
    sharedQueue: true,
    ...o,
  };
}

export interface ExchangeDeclare {
  name: string;
  type: 'topic' | 'fanout';
  durable: boolean;
  autoDelete: boolean;
}

export interface QueueDeclare {
  name: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
  /** Exchange and routing key the queue is bound with. */
  bindExchange: string;
  routingKey: string;
}

/** oslo Connection.durable: quorum queues are always durable. */
export function isDurable(o: Pick<BusOptions, 'amqpDurableQueues' | 'rabbitQuorumQueue'>): boolean {
  return o.amqpDurableQueues || o.rabbitQuorumQueue;
}

/** Throws like oslo does when both HA and quorum are enabled. */
export function validateOptions(o: BusOptions): void {
  if (o.rabbitQuorumQueue && o.rabbitHaQueues) {
    throw new Error('bus: rabbit_quorum_queue and rabbit_ha_queues are both enabled; queue type is quorum or HA, not both');
  }
  if (!o.exchange || !o.topic || !o.server) throw new Error('bus: exchange, topic and server must be non-empty');
  if (!Number.isFinite(o.transientQueuesTtlSeconds) || o.transientQueuesTtlSeconds < 0) {
    throw new Error('bus: transientQueuesTtlSeconds must be a non-negative number');
  }
}

/**
 * oslo impl_rabbit._get_queue_arguments(ha, ttl, quorum). Quorum memory limits are not
 * supported (oslo's defaults of 0 add nothing).
 */
export function queueArguments(opts: { ha: boolean; quorum: boolean; ttlSeconds: number }): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (opts.ha) args['x-ha-policy'] = 'all';
  if (opts.quorum) args['x-queue-type'] = 'quorum';
  if (opts.ttlSeconds > 0) args['x-expires'] = Math.round(opts.ttlSeconds * 1000);
  return args;
}

/** The control exchange E (type topic), as oslo's declare_topic_consumer / topic_send declare it. */
export function controlExchange(o: BusOptions): ExchangeDeclare {
  return { name: o.exchange, type: 'topic', durable: isDurable(o), autoDelete: false };
}

/** The fanout exchange `T_fanout`: durable false, auto_delete true. */
export function fanoutExchange(o: Pick<BusOptions, 'topic'>): ExchangeDeclare {
  return { name: `${o.topic}_fanout`, type: 'fanout', durable: false, autoDelete: true };
}

/** Topic queues `T` and `T.S` on E: durable per options, HA/quorum args, no TTL. */
export function topicQueues(o: BusOptions): QueueDeclare[] {
  const args = queueArguments({ ha: o.rabbitHaQueues, quorum: o.rabbitQuorumQueue, ttlSeconds: 0 });
  return [...(o.sharedQueue ? [o.topic] : []), `${o.topic}.${o.server}`].map((name) => ({
    name,
    durable: isDurable(o),
    autoDelete: false,
    arguments: { ...args },
    bindExchange: o.exchange,
    routingKey: name,
  }));
}

/**
 * The fanout queue `T_fanout_<uuid hex>`: durable false, auto_delete false, HA args (never
 * quorum) and `x-expires` = transient TTL; bound to `T_fanout` with key T.
 */
export function fanoutQueue(o: BusOptions, uuidHex: string): QueueDeclare {
  return {
    name: `${o.topic}_fanout_${uuidHex}`,
    durable: false,
    autoDelete: false,
    arguments: queueArguments({ ha: o.rabbitHaQueues, quorum: false, ttlSeconds: o.transientQueuesTtlSeconds }),
    bindExchange: `${o.topic}_fanout`,
    routingKey: o.topic,
  };
}

/** Routing key oslo's notifier uses: `<topic>.<priority lowercase>`. */
export function notificationRoutingKey(topic: string, priority: string): string {
  return `${topic}.${priority.toLowerCase()}`;
}

/**
 * The queue oslo's notify_send declares (`_publish_and_creates_default_queue`): named after
 * the routing key, durable/auto_delete like the exchange, HA/quorum args, no TTL.
 */
export function notificationQueue(o: BusOptions, topic: string, priority: string): QueueDeclare {
  const key = notificationRoutingKey(topic, priority);
  return {
    name: key,
    durable: isDurable(o),
    autoDelete: false,
    arguments: queueArguments({ ha: o.rabbitHaQueues, quorum: o.rabbitQuorumQueue, ttlSeconds: 0 }),
    bindExchange: o.exchange,
    routingKey: key,
  };
}
