import type { Logger } from 'pino';
import { GuestAgentUnavailable, HypervisorError } from '../errors.js';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import type { QuiesceMethod } from '../repo/point.js';
import { withTimeout } from '../util/abortable-sleep.js';

export type QuiescePolicy = 'auto' | 'agent' | 'suspend' | 'none';

export interface QuiesceOutcome {
  method: QuiesceMethod;
  /** How long the guest's filesystems were frozen, or the domain paused. */
  freezeMs: number;
}

export interface QuiesceSettings {
  freezeTimeoutSeconds: number;
  thawTimeoutSeconds: number;
  /** Keeps thawing a guest whose thaw failed, after this job has moved on. */
  thawGuard: { watch(domainUuid: string): void };
}

/**
 * Runs `takeSnapshot` at a consistent point and always lets the guest go again.
 *
 * - `agent`: fsfreeze through the guest agent, or fail with GuestAgentUnavailable.
 * - `auto`: fsfreeze; when the agent does not answer, suspend instead.
 * - `suspend`: pause the vCPUs around the snapshot.
 * - `none`: crash-consistent, the guest never stops.
 *
 * `beforeStop` is awaited before the guest is frozen or paused, so the journal says what
 * to undo if the agent dies in between. Thaw and resume run in `finally`, bounded by a
 * timeout; a thaw that fails keeps being retried in the background (ThawGuard).
 */
export async function withConsistentPoint(
  domain: HypervisorDomain,
  policy: QuiescePolicy,
  settings: QuiesceSettings,
  log: Logger,
  beforeStop: (method: 'agent' | 'suspend') => Promise<void>,
  takeSnapshot: () => Promise<void>,
): Promise<QuiesceOutcome> {
  if (policy === 'none') {
    await takeSnapshot();
    return { method: 'none', freezeMs: 0 };
  }
  // A paused guest runs no guest agent: asking it to freeze would only wait for the timeout.
  const paused = policy !== 'suspend' && (await domain.runState()) === 'paused';
  if (paused && policy === 'agent') {
    throw new GuestAgentUnavailable(`domain ${domain.name} is paused; its guest agent cannot freeze`);
  }
  if ((policy === 'agent' || policy === 'auto') && !paused) {
    await beforeStop('agent');
    let frozenAt: number;
    try {
      await domain.freezeFilesystems(settings.freezeTimeoutSeconds);
      frozenAt = performance.now();
    } catch (err) {
      // A freeze that timed out may still reach the guest later (libvirt skips the
      // guest-sync handshake once the agent was in sync): thaw regardless.
      settings.thawGuard.watch(domain.uuid);
      if (policy === 'agent' || !(err instanceof HypervisorError)) {
        throw new GuestAgentUnavailable(`guest agent fsfreeze failed: ${(err as Error).message}`, { cause: err });
      }
      log.warn({ err: (err as Error).message }, 'guest agent did not freeze; falling back to suspend');
      return suspendAround(domain, settings, log, beforeStop, takeSnapshot);
    }
    try {
      await takeSnapshot();
    } finally {
      await thawNow(domain, settings, log);
    }
    return { method: 'agent', freezeMs: Math.round(performance.now() - frozenAt) };
  }
  return suspendAround(domain, settings, log, beforeStop, takeSnapshot);
}

async function suspendAround(
  domain: HypervisorDomain,
  settings: QuiesceSettings,
  log: Logger,
  beforeStop: (method: 'agent' | 'suspend') => Promise<void>,
  takeSnapshot: () => Promise<void>,
): Promise<QuiesceOutcome> {
  // A domain an operator paused stays paused: we neither pause nor resume it.
  const pausedByOperator = (await domain.runState()) === 'paused';
  if (!pausedByOperator) {
    await beforeStop('suspend');
    await domain.suspend();
  }
  const pausedAt = performance.now();
  try {
    await takeSnapshot();
  } finally {
    if (!pausedByOperator) {
      await withTimeout(domain.resume(), settings.thawTimeoutSeconds * 1000, () => new Error('resume timed out')).catch(
        (err: Error) => {
          log.error({ err: err.message }, 'resume failed; recovery will retry');
          throw err;
        },
      );
    }
  }
  return { method: 'suspend', freezeMs: pausedByOperator ? 0 : Math.round(performance.now() - pausedAt) };
}

async function thawNow(domain: HypervisorDomain, settings: QuiesceSettings, log: Logger): Promise<void> {
  try {
    await withTimeout(
      domain.thawFilesystems(settings.thawTimeoutSeconds),
      (settings.thawTimeoutSeconds + 1) * 1000,
      () => new Error('thaw timed out'),
    );
  } catch (err) {
    log.error({ err: (err as Error).message }, 'thaw failed; retrying in the background');
    settings.thawGuard.watch(domain.uuid);
  }
}
