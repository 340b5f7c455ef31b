import type { Replicator } from '../replication/replicator.js';
import type { FreeSpace, RepositoryTarget } from '../repo/target.js';

/**
 * What a scrape reads from the repository targets and the replicator, and the pure
 * sums made of it. A target can hang (an SSH DR node behind a dead link), so every read
 * has a deadline, and a read still running is shared rather than started again: scrapes
 * never pile calls up on a hung target.
 */

/** A domain as the primary target and the replica records show it at scrape time. */
export interface DomainStatus {
  domain_uuid: string;
  /** The name its newest point on the primary records. */
  domain: string;
  /** `created_at` of that point. */
  newest_at: string;
  rpo_s: number | null;
  /** Per secondary, `created_at` of the newest point it holds; null when it holds none. */
  secondaries: Record<string, string | null>;
}

export type PrimaryReads = Pick<RepositoryTarget, 'listDomains' | 'latestPoint'>;
export type ReplicaReads = Pick<Replicator, 'rpoSeconds' | 'newestOnSecondaries'>;

/** Every domain with a point on the primary, with its RPO and what each secondary holds. */
export async function readDomainStatuses(primary: PrimaryReads, replicas: ReplicaReads, now: number): Promise<DomainStatus[]> {
  const statuses: DomainStatus[] = [];
  for (const domainUuid of await primary.listDomains()) {
    const [newest, rpo, secondaries] = await Promise.all([
      primary.latestPoint(domainUuid),
      replicas.rpoSeconds(domainUuid, now),
      replicas.newestOnSecondaries(domainUuid),
    ]);
    if (newest) statuses.push({ domain_uuid: domainUuid, domain: newest.domain, newest_at: newest.created_at, rpo_s: rpo, secondaries });
  }
  return statuses;
}

export interface ReplicationLag {
  target: string;
  /**
   * Over the domains the secondary holds a point of, the largest gap between the primary's
   * newest point and the secondary's newest, in seconds; 0 when it is up to date.
   */
  lag_s: number;
  /** Domains with a point on the primary and none on the secondary (a new domain within the delay, or a copy that keeps failing). */
  unreplicated: number;
}

export function replicationLag(domains: readonly DomainStatus[], secondaries: readonly string[]): ReplicationLag[] {
  return secondaries.map((target) => {
    let lagMs = 0;
    let unreplicated = 0;
    for (const domain of domains) {
      const held = domain.secondaries[target] ?? null;
      if (held === null) unreplicated += 1;
      else lagMs = Math.max(lagMs, Date.parse(domain.newest_at) - Date.parse(held));
    }
    return { target, lag_s: lagMs / 1000, unreplicated };
  });
}

export class ScrapeTimeout extends Error {}

/** `promise`, or a ScrapeTimeout after `ms`; the timer never outlives the race. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ScrapeTimeout(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `read`, called at most once at a time: while a call is unsettled, every caller shares it. */
export function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () =>
    (running ??= read().finally(() => {
      running = null;
    }));
}

/**
 * Free space per target; a target that fails or misses the deadline is left out and handed
 * to `onError`, and one with no size to report (an object store) is left out silently.
 */
export function freeSpaceReader(
  targets: readonly Pick<RepositoryTarget, 'name' | 'freeSpace'>[],
  timeoutMs: number,
  onError: (target: string, err: Error) => void,
): () => Promise<Map<string, FreeSpace>> {
  const reads = targets.map((target) => ({ name: target.name, read: shared(() => target.freeSpace()) }));
  return async () => {
    const answers = await Promise.all(
      reads.map(({ name, read }) =>
        within(read(), timeoutMs, `free space of target ${name}`).then(
          (space) => [name, space] as const,
          (err: Error) => {
            onError(name, err);
            return null;
          },
        ),
      ),
    );
    return new Map(answers.filter((a): a is readonly [string, FreeSpace] => a !== null && a[1] !== null));
  };
}
