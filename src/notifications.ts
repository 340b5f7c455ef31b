import type { Logger } from 'pino';
import type { Notifier } from './bus/index.js';
import type { RpcRequest } from './bus/index.js';
import type { VirtDrError } from './errors.js';
import { publicJob, type JobAction } from './jobs/job.js';
import { clip } from './util/clip.js';
import type { JobEvents } from './jobs/job-runner.js';
import type { ReplicationEvent } from './replication/replicator.js';

/** The RPC method that starts each kind of job; its refusals are reported as that action's errors. */
const ACTION_OF_METHOD: Readonly<Record<string, JobAction>> = {
  backup: 'backup',
  restore: 'restore',
  verify: 'verify',
  delete_backup: 'delete',
  failover: 'failover',
  failback: 'failback',
};
/** libvirt's own limit on a domain name. */
const DOMAIN_CHARS = 255;

/**
 * Turns job lifecycle events into oslo notifications:
 * virt_dr.<action>.start | progress | end (INFO) and .error (ERROR). Payloads are the
 * protocol's job object; progress adds percent and rate_bytes_per_s.
 */
export function jobNotifications(notifier: Notifier, log: Logger): JobEvents {
  const send = (eventType: string, priority: 'INFO' | 'ERROR', payload: object, context: Record<string, unknown>) =>
    notifier
      .notify(eventType, priority, payload, context)
      .catch((err: Error) => log.warn({ event_type: eventType, err: err.message }, 'notification not sent'));

  return {
    started: (job) => void send(`virt_dr.${job.action}.start`, 'INFO', publicJob(job), job.request.context),
    progressed: (job, report) =>
      void send(`virt_dr.${job.action}.progress`, 'INFO', { ...publicJob(job), ...report }, job.request.context),
    finished: (job) =>
      void (job.state === 'succeeded'
        ? send(`virt_dr.${job.action}.end`, 'INFO', publicJob(job), job.request.context)
        : send(`virt_dr.${job.action}.error`, 'ERROR', publicJob(job), job.request.context)),
  };
}

/**
 * A refused request is reported on the bus as well as in the log: a cast has no other
 * way to tell its sender, and a malformed message has no sender we can name. A call to
 * a quick method gets its failure reply and nothing more.
 */
export function rejectionNotifier(notifier: Notifier, log: Logger) {
  return async (request: RpcRequest | null, error: VirtDrError, salvaged: Record<string, unknown> = {}): Promise<void> => {
    log.warn({ method: request?.method ?? null, request_id: request?.requestId ?? null, err: clip(error.message), class: error.name }, 'request refused');
    const action = request !== null && Object.hasOwn(ACTION_OF_METHOD, request.method) ? ACTION_OF_METHOD[request.method] : undefined;
    if (request !== null && request.isCall && !action) return;
    const eventType = action ? `virt_dr.${action}.error` : 'virt_dr.request.error';
    const payload = {
      method: request?.method ?? null,
      // The domain as the request named it, which may be what was refused: clipped.
      domain: typeof request?.args.domain === 'string' ? clip(request.args.domain, DOMAIN_CHARS) : null,
      error: error.toJSON(),
    };
    await notifier
      .notify(eventType, 'ERROR', payload, request?.context ?? salvaged)
      .catch((err: Error) => log.warn({ err: err.message }, 'notification not sent'));
  };
}

/** Replication reports as `virt_dr.replicate.start|end` (INFO) and `.error` (ERROR). */
export function replicationNotifications(notifier: Notifier, log: Logger) {
  return (stage: 'start' | 'end' | 'error', event: ReplicationEvent): void =>
    void notifier
      .notify(`virt_dr.replicate.${stage}`, stage === 'error' ? 'ERROR' : 'INFO', event, {})
      .catch((err: Error) => log.warn({ event_type: `virt_dr.replicate.${stage}`, err: err.message }, 'notification not sent'));
}
