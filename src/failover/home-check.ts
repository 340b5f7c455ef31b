import type { CallAgent } from '../bus/agent-call.js';
import { CallTimeout, RemoteError } from '../bus/rpc-client.js';
import { DomainRunningElsewhere } from '../errors.js';
import type { Manifest } from '../repo/point.js';

/** What the domain's home agent said of it, or that it said nothing in time. */
export type HomeState = 'running' | 'paused' | 'shutoff' | 'other' | 'undefined' | 'unreachable';

/** Asks one host's agent (`T.<host>`) for a domain's state with `domain_state`. */
export type AskHome = (host: string, domainUuid: string) => Promise<HomeState>;

/**
 * The split-brain guard's question. No answer within `timeoutMs` means the home host is
 * lost (its queue keeps the question, which a returning agent answers into a reply queue
 * that is gone by then: harmless). Anything else that goes wrong fails the failover: a
 * question that could not be asked is no evidence that the home host is gone.
 */
export function askHomeOverBus(callAgent: CallAgent, timeoutMs: number): AskHome {
  return async (host, domainUuid) => {
    try {
      return (await callAgent<{ state: HomeState }>(host, 'domain_state', { domain: domainUuid }, timeoutMs)).state;
    } catch (err) {
      if (err instanceof CallTimeout) return 'unreachable';
      // An agent of a version without domain_state answers, so it is up: its domain may run.
      if (err instanceof RemoteError) return 'other';
      throw err;
    }
  };
}

/**
 * Refuses a failover while the domain's home agent reports it running or paused there,
 * or answers something the guard cannot read as stopped; `force` skips the question. A
 * point that names no home host can only be failed over with `force`.
 */
export async function refuseSplitBrain(point: Manifest, force: boolean, ask: AskHome): Promise<string> {
  if (force) return 'forced: the home host was not asked';
  if (point.host === null) {
    throw new DomainRunningElsewhere(`backup ${point.backup_id} does not name the host ${point.domain} ran on, so it cannot be asked: use force=true once that host is fenced`);
  }
  const state = await ask(point.host, point.domain_uuid);
  if (state === 'unreachable') return `home host ${point.host} did not answer: treated as lost`;
  if (state === 'shutoff' || state === 'undefined') return `home host ${point.host} reports the domain ${state}`;
  throw new DomainRunningElsewhere(
    `domain ${point.domain} is ${state === 'other' ? 'not known to be stopped' : state} on its home host ${point.host}: stop it there first, or use force=true once that host is fenced`,
  );
}
