import type { EngineChoice } from '../backup/request.js';
import type { QuiescePolicy } from '../backup/quiesce.js';

/**
 * A backup policy: when a domain is backed up, how long its points stay, in which storage
 * tier and on which targets. Key names are the protocol's (shared/PROTOCOL.md, "Policy"),
 * so a policy is stored, sent and shown in one shape.
 *
 * A policy is set in layers: the config file's defaults, then a project's, then a
 * domain's. Each top-level key comes from the most specific layer that sets it
 * (`resolvePolicy`); a nested object (a schedule, the tiers, the plan) is taken whole.
 */

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Every `interval_s` seconds; or at each time a 5-field cron expression names in `tz`; or on the days at `time` ("HH:MM") in `tz`. */
export type Schedule =
  | { interval_s: number }
  | { cron: string; tz: string }
  | { weekly: { days: Weekday[]; time: string; tz: string } };

/** A slot that passed while the agent was down: run once at start, or skip to the next. */
export type MissedSlots = 'catch_up' | 'skip';

/**
 * Which scheduled points stay. `max_count`: the newest N. GFS: the newest `keep_last`,
 * plus the newest point of each of the last `daily` days, `weekly` ISO weeks and
 * `monthly` months that have one (Proxmox's prune rules); a key left out keeps none by it.
 */
export type Retention = { max_count: number } | { keep_last?: number; daily?: number; weekly?: number; monthly?: number };

/** How much a tier holds: a number of points, or the bytes they store. */
export type Capacity = { count: number } | { bytes: number };

export interface TierSpec {
  /** A repository target's name (`repo.targets`). */
  target: string;
  /** Null: unbounded (the built-in default: the agent deletes nothing until a policy says so). */
  capacity: Capacity | null;
}

export interface SlowTierSpec extends TierSpec {
  /** T2: a chain whose newest point is older than this moves from fast to slow. */
  after_s: number;
}

export type TierName = 'fast' | 'slow' | 'manual';

/**
 * Where points live on this side. Scheduled points land in `fast`; a chain moves to
 * `slow` after T2 (no slow tier: it stays until retention removes it); manual points are
 * self-contained fulls in `manual`, never pruned automatically.
 */
export interface Tiers {
  fast: TierSpec;
  slow: SlowTierSpec | null;
  manual: TierSpec;
}

export interface SecondarySpec {
  target: string;
  /** A new point is copied to this target this long after it was published. */
  delay_s: number;
}

/**
 * Where copies go. `primary` is the fast tier's target; each point is copied to
 * `secondaries` asynchronously until `copies` targets hold it (the primary counts as one).
 * Which secondaries receive a domain: those that hold its points already, then the ones
 * with the most free space.
 */
export interface Plan {
  primary: string;
  secondaries: SecondarySpec[];
  copies: number;
}

/** A complete policy: what `get_policy` answers and what the scheduler runs by. */
export interface Policy {
  /** Null: no scheduled backups (backups only by request). */
  schedule: Schedule | null;
  missed: MissedSlots;
  /**
   * Each domain's start is put off by up to this many seconds, the same amount every slot.
   * Null: the scheduler's own default, for a policy that leaves the spread to it.
   */
  jitter_s: number | null;
  /** Null: scheduled points are kept until a tier's capacity removes them. */
  retention: Retention | null;
  /** A new full after this many incrementals; 0: incrementals as long as the chain is intact. */
  chain_length: number;
  tiers: Tiers;
  plan: Plan;
  quiesce: QuiescePolicy;
  engine: EngineChoice;
  exclude_disks: string[];
}


export const POLICY_KEYS = [
  'schedule',
  'missed',
  'jitter_s',
  'retention',
  'chain_length',
  'tiers',
  'plan',
  'quiesce',
  'engine',
  'exclude_disks',
] as const satisfies readonly (keyof Policy)[];

/** Where a policy layer applies. */
export type PolicyScope = { domain: string } | { project: string } | 'defaults';
