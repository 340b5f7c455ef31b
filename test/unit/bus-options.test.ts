import { redactUrl } from '../../src/log.js';
import { describe, expect, it } from 'vitest';
import {
  busOptions,
  controlExchange,
  fanoutExchange,
  fanoutQueue,
  isDurable,
  notificationQueue,
  notificationRoutingKey,
  queueArguments,
  topicQueues,
  validateOptions,
} from '../../src/bus/options.js';

const base = busOptions({ url: 'amqp://u:p@h/', exchange: 'openstack', topic: 'virt_dr', server: 'host1' });

describe('bus options -> declare arguments (oslo impl_rabbit parity)', () => {
  it('defaults: durable false, auto_delete false, no arguments on T and T.S', () => {
    expect(base.transientQueuesTtlSeconds).toBe(1800);
    expect(base.notificationTopics).toEqual(['notifications']);
    expect(controlExchange(base)).toEqual({ name: 'openstack', type: 'topic', durable: false, autoDelete: false });
    expect(topicQueues(base)).toEqual([
      { name: 'virt_dr', durable: false, autoDelete: false, arguments: {}, bindExchange: 'openstack', routingKey: 'virt_dr' },
      { name: 'virt_dr.host1', durable: false, autoDelete: false, arguments: {}, bindExchange: 'openstack', routingKey: 'virt_dr.host1' },
    ]);
  });

  it('fanout: exchange T_fanout durable false auto_delete true; queue with x-expires', () => {
    expect(fanoutExchange(base)).toEqual({ name: 'virt_dr_fanout', type: 'fanout', durable: false, autoDelete: true });
    expect(fanoutQueue(base, 'abc')).toEqual({
      name: 'virt_dr_fanout_abc',
      durable: false,
      autoDelete: false,
      arguments: { 'x-expires': 1_800_000 },
      bindExchange: 'virt_dr_fanout',
      routingKey: 'virt_dr',
    });
    expect(fanoutQueue({ ...base, transientQueuesTtlSeconds: 0 }, 'abc').arguments).toEqual({});
    expect(fanoutQueue({ ...base, transientQueuesTtlSeconds: 60 }, 'abc').arguments).toEqual({ 'x-expires': 60_000 });
  });

  it('amqp_durable_queues makes the exchange, T, T.S and notification queues durable (not fanout)', () => {
    const o = { ...base, amqpDurableQueues: true };
    expect(isDurable(o)).toBe(true);
    expect(controlExchange(o).durable).toBe(true);
    expect(topicQueues(o).every((q) => q.durable && Object.keys(q.arguments).length === 0)).toBe(true);
    expect(notificationQueue(o, 'notifications', 'INFO').durable).toBe(true);
    expect(fanoutQueue(o, 'x').durable).toBe(false);
    expect(fanoutExchange(o).durable).toBe(false);
  });

  it('rabbit_quorum_queue: durable and x-queue-type quorum on T, T.S and notification queues, not fanout', () => {
    const o = { ...base, rabbitQuorumQueue: true };
    expect(controlExchange(o).durable).toBe(true);
    for (const q of topicQueues(o)) expect(q).toMatchObject({ durable: true, arguments: { 'x-queue-type': 'quorum' } });
    expect(notificationQueue(o, 'notifications', 'ERROR').arguments).toEqual({ 'x-queue-type': 'quorum' });
    expect(fanoutQueue(o, 'x').arguments).toEqual({ 'x-expires': 1_800_000 });
  });

  it('rabbit_ha_queues: x-ha-policy all everywhere oslo puts it', () => {
    const o = { ...base, rabbitHaQueues: true };
    for (const q of topicQueues(o)) expect(q.arguments).toEqual({ 'x-ha-policy': 'all' });
    expect(fanoutQueue(o, 'x').arguments).toEqual({ 'x-ha-policy': 'all', 'x-expires': 1_800_000 });
    expect(notificationQueue(o, 'notifications', 'WARN').arguments).toEqual({ 'x-ha-policy': 'all' });
    expect(controlExchange(o).durable).toBe(false);
  });

  it('rejects quorum + HA like oslo', () => {
    expect(() => validateOptions({ ...base, rabbitHaQueues: true, rabbitQuorumQueue: true })).toThrow(/not both/);
    expect(() => validateOptions(base)).not.toThrow();
  });

  it('queueArguments mirrors _get_queue_arguments', () => {
    expect(queueArguments({ ha: false, quorum: false, ttlSeconds: 0 })).toEqual({});
    expect(queueArguments({ ha: true, quorum: false, ttlSeconds: 10 })).toEqual({ 'x-ha-policy': 'all', 'x-expires': 10_000 });
  });

  it('notification queue is named after its routing key and bound on E', () => {
    expect(notificationRoutingKey('notifications', 'INFO')).toBe('notifications.info');
    expect(notificationQueue(base, 'notifications', 'ERROR')).toEqual({
      name: 'notifications.error',
      durable: false,
      autoDelete: false,
      arguments: {},
      bindExchange: 'openstack',
      routingKey: 'notifications.error',
    });
  });

  it('redacts passwords in URLs', () => {
    expect(redactUrl('amqp://guest:s3cret@rabbit:5672/vh')).toBe('amqp://guest:***@rabbit:5672/vh');
    expect(redactUrl('amqp://rabbit/')).toBe('amqp://rabbit/');
    expect(redactUrl('not a url://a:b@c')).not.toContain(':b@');
  });

  it.each([
    // A password with `/`, `?` or `#` ends the authority early: the URL does not parse.
    ['amqp://guest:pa/ss@rabbit:5672/vh', 'amqp://***@rabbit:5672'],
    ['amqp://guest:pa?ss@rabbit/', 'amqp://***@rabbit'],
    ['amqp://guest:pa#ss@rabbit/', 'amqp://***@rabbit'],
    ['amqp://guest:p/a@s/s@rabbit/', 'amqp://***@rabbit'],
    ['amqp://guest:pw/x@[::1]:5672/', 'amqp://***@[::1]:5672'],
    // Parses, but not as written: port 1234 and a path "/5@rabbit/" would show the password.
    ['amqp://guest:1234/5@rabbit/', 'amqp://***@rabbit'],
    // No host worth showing after the last @: the scheme alone.
    ['amqp://guest:pa/ss@bad host!/', 'amqp://***'],
    ['amqp://guest:secret', 'amqp://***'],
  ])('shows only the scheme and host of %s, which does not parse as written', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('redacts a password with @ (URL keeps the last @ as the end of the user info)', () => {
    expect(redactUrl('amqp://guest:p@ss@rabbit/')).toBe('amqp://guest:***@rabbit/');
  });
});
