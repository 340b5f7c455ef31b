import { ARG_LIMITS } from '../api/args.js';
import { quote } from '../util/clip.js';
import { FieldReader, refuseIfAny } from './policy-fields.js';
import { WEEKDAYS, type Capacity, type Policy, type Retention, type Schedule, type SecondarySpec, type Weekday } from './policy.js';
import { MIN_INTERVAL_S, TIME_OF_DAY } from './schedule/compile.js';

/**
 * One policy layer read from untrusted JSON: set_policy's `policy`, the config file's
 * `policy.defaults`, a stored policy file. Every key is optional; unknown keys, wrong
 * types and values out of range are refused, the layer whole, every problem named.
 */

/** A tier as a layer gives it: either key may be left to the defaults (`resolvePolicy`). */
export interface TierLayer {
  target?: string;
  capacity?: Capacity | null;
}

/** A slow tier is given whole but for its capacity: where chains go, and after how long. */
export interface SlowTierLayer {
  target: string;
  capacity?: Capacity | null;
  after_s: number;
}

export interface TiersLayer {
  fast?: TierLayer;
  /** Null: no slow tier (chains stay in fast until retention removes them). */
  slow?: SlowTierLayer | null;
  manual?: TierLayer;
}

export interface PlanLayer {
  primary?: string;
  secondaries?: SecondarySpec[];
  copies?: number;
}

/**
 * A policy as one layer sets it: the keys of `Policy`, each optional, tiers and plan
 * partial. `jitter_s: null` sets the scheduler's default over a less specific layer's number.
 */
export type PolicyLayer = Partial<Omit<Policy, 'tiers' | 'plan'>> & { tiers?: TiersLayer; plan?: PlanLayer };

/**
 * The checks of a schedule's cron expression and time zone, each null when the value is
 * good, else why not ("hour 25 is outside 0-23"). The scheduler's own parser plugs in
 * here, so a policy is refused for exactly what the scheduler could not run.
 */
export interface ScheduleChecks {
  cron(expression: string): string | null;
  timeZone(tz: string): string | null;
}

export interface PolicyParseContext {
  /** The configured repository targets' names, the primary first: a policy may name only these. */
  targets: readonly string[];
  checks: ScheduleChecks;
}

/** Bounds on values, so every number a policy holds is one the scheduler can act on. */
export const POLICY_LIMITS = {
  /** The scheduler's shortest interval (issue 11: "10 at least"), also T2's floor. */
  intervalMinS: MIN_INTERVAL_S,
  /** A year: the longest interval, T2 and secondary delay. */
  longestS: 366 * 86_400,
  jitterMaxS: 86_400,
  chainLengthMax: 1000,
  retentionMax: 100_000,
  countMax: 1_000_000,
  copiesMax: 64,
  secondariesMax: 64,
} as const;

const CAPACITY_UNITS = ['count', 'bytes'] as const;
const GFS_KEYS = ['keep_last', 'daily', 'weekly', 'monthly'] as const;
const TIME_OF_DAY_TEXT = { test: TIME_OF_DAY, what: 'a time of day "HH:MM" (00:00-23:59)' };
/** A disk's target device as libvirt names it (vda, sdb, hdc, xvda). */
const DEVICE_NAME = { test: /^[a-z][a-z0-9]{0,31}$/, what: 'a disk device name like "vdb"' };

/**
 * The layer `value` sets (null and `{}` set nothing). `what` starts the refusal:
 * `set_policy(): policy has 2 problems: ...`.
 */
export function parsePolicyLayer(value: unknown, what: string, context: PolicyParseContext): PolicyLayer {
  if (value === null) return {};
  const parser = new LayerParser(context);
  const layer = parser.layer(value);
  refuseIfAny(what, parser.read.problems);
  return layer;
}

class LayerParser {
  readonly read = new FieldReader();

  constructor(private readonly context: PolicyParseContext) {}

  layer(value: unknown): PolicyLayer {
    const r = this.read;
    const layer = this.objectOf<PolicyLayer>('', value, {
      schedule: (v) => this.schedule(v),
      missed: (v) => r.choice('missed', v, ['catch_up', 'skip'] as const),
      jitter_s: (v) => (v === null ? null : r.integer('jitter_s', v, 0, POLICY_LIMITS.jitterMaxS)),
      retention: (v) => this.retention(v),
      chain_length: (v) => r.integer('chain_length', v, 0, POLICY_LIMITS.chainLengthMax),
      tiers: (v) => this.tiers(v),
      plan: (v) => this.plan(v),
      quiesce: (v) => r.choice('quiesce', v, ['auto', 'agent', 'suspend', 'none'] as const),
      engine: (v) => r.choice('engine', v, ['auto', 'checkpoint', 'snapshot'] as const),
      exclude_disks: (v) => this.excludeDisks(v),
    });
    return layer ?? {};
  }

  /**
   * An object of the readers' keys, each one present read by its reader (`null` stays a
   * value: it sets "none"); undefined when it or any of its keys had a problem.
   */
  private objectOf<T extends object>(path: string, value: unknown, readers: { [K in keyof T]-?: (value: unknown) => T[K] | undefined }): T | undefined {
    const fields = this.read.object(path, value, Object.keys(readers));
    if (!fields) return undefined;
    const read: Partial<T> = {};
    let ok = true;
    for (const key of Object.keys(readers) as (keyof T & string)[]) {
      if (fields[key] === undefined) continue;
      const parsed = readers[key](fields[key]);
      if (parsed === undefined) ok = false;
      else read[key] = parsed;
    }
    return ok ? (read as T) : undefined;
  }

  private schedule(value: unknown): Schedule | null | undefined {
    if (value === null) return null;
    const r = this.read;
    const fields = r.object('schedule', value, ['interval_s', 'cron', 'tz', 'weekly']);
    if (!fields) return undefined;
    const has = (key: string) => fields[key] !== undefined;
    const forms = [has('interval_s'), has('cron') || has('tz'), has('weekly')].filter(Boolean).length;
    if (forms !== 1) {
      r.problem('schedule', 'must be exactly one of {"interval_s"}, {"cron", "tz"} or {"weekly": {"days", "time", "tz"}} (null: no schedule)');
      return undefined;
    }
    if (has('interval_s')) {
      const interval = r.integer('schedule.interval_s', fields.interval_s, POLICY_LIMITS.intervalMinS, POLICY_LIMITS.longestS);
      return interval === undefined ? undefined : { interval_s: interval };
    }
    if (has('weekly')) return this.weekly(fields.weekly);
    const cron = r.required('schedule.cron', fields.cron, (v) => this.checked('schedule.cron', v, (e) => this.context.checks.cron(e)));
    const tz = this.timeZone('schedule.tz', fields.tz);
    return cron === undefined || tz === undefined ? undefined : { cron, tz };
  }

  private weekly(value: unknown): Schedule | undefined {
    const r = this.read;
    const fields = r.object('schedule.weekly', value, ['days', 'time', 'tz']);
    if (!fields) return undefined;
    const days = r.required('schedule.weekly.days', fields.days, (v) => this.days(v));
    const time = r.required('schedule.weekly.time', fields.time, (v) => r.text('schedule.weekly.time', v, TIME_OF_DAY_TEXT));
    const tz = this.timeZone('schedule.weekly.tz', fields.tz);
    return days === undefined || time === undefined || tz === undefined ? undefined : { weekly: { days, time, tz } };
  }

  private days(value: unknown): Weekday[] | undefined {
    const r = this.read;
    const list = r.list('schedule.weekly.days', value, WEEKDAYS.length);
    if (!list) return undefined;
    if (list.length === 0) {
      r.problem('schedule.weekly.days', `must name at least one of ${WEEKDAYS.join(', ')}`);
      return undefined;
    }
    const days = list.map((d, i) => r.choice(`schedule.weekly.days[${i}]`, d, WEEKDAYS));
    if (days.some((d) => d === undefined)) return undefined;
    const before = r.problems.length;
    r.unique('schedule.weekly.days', days as Weekday[], 'day');
    return r.problems.length === before ? (days as Weekday[]) : undefined;
  }

  /** A time zone is always required: a wall-clock schedule without one means another host's clock. */
  private timeZone(path: string, value: unknown): string | undefined {
    return this.read.required(path, value, (v) => this.checked(path, v, (tz) => this.context.checks.timeZone(tz)), ' (an IANA time zone such as "Europe/Berlin" or "UTC")');
  }

  /** A string the scheduler's own check accepts: `path "value": why not`. */
  private checked(path: string, value: unknown, check: (text: string) => string | null): string | undefined {
    const text = this.read.text(path, value);
    if (text === undefined) return undefined;
    const why = check(text);
    if (why === null) return text;
    this.read.problem(`${path} ${quote(text)}:`, why);
    return undefined;
  }

  private retention(value: unknown): Retention | null | undefined {
    if (value === null) return null;
    const r = this.read;
    const fields = r.object('retention', value, ['max_count', ...GFS_KEYS]);
    if (!fields) return undefined;
    const gfsGiven = GFS_KEYS.filter((k) => fields[k] !== undefined);
    if (fields.max_count !== undefined) {
      if (gfsGiven.length > 0) {
        r.problem('retention', `is {"max_count"} or GFS {${GFS_KEYS.map((k) => `"${k}"`).join(', ')}}, not both`);
        return undefined;
      }
      const max = r.integer('retention.max_count', fields.max_count, 1, POLICY_LIMITS.retentionMax);
      return max === undefined ? undefined : { max_count: max };
    }
    const gfs: Record<string, number> = {};
    for (const key of gfsGiven) {
      const n = r.integer(`retention.${key}`, fields[key], 0, POLICY_LIMITS.retentionMax);
      if (n !== undefined) gfs[key] = n;
    }
    if (Object.keys(gfs).length !== gfsGiven.length) return undefined;
    if (!Object.values(gfs).some((n) => n > 0)) {
      r.problem('retention', `keeps nothing: give max_count, or ${GFS_KEYS.join(', ')} with one above 0 (null: keep every point)`);
      return undefined;
    }
    return gfs;
  }

  private tiers(value: unknown): TiersLayer | undefined {
    return this.objectOf<TiersLayer>('tiers', value, {
      fast: (v) => this.tier('tiers.fast', v),
      slow: (v) => (v === null ? null : this.slowTier(v)),
      manual: (v) => this.tier('tiers.manual', v),
    });
  }

  private tier(path: string, value: unknown): TierLayer | undefined {
    return this.objectOf<TierLayer>(path, value, {
      target: (v) => this.target(`${path}.target`, v),
      capacity: (v) => this.capacity(`${path}.capacity`, v),
    });
  }

  private slowTier(value: unknown): SlowTierLayer | undefined {
    const r = this.read;
    const fields = r.object('tiers.slow', value, ['target', 'capacity', 'after_s']);
    if (!fields) return undefined;
    const target = r.required('tiers.slow.target', fields.target, (v) => this.target('tiers.slow.target', v));
    const afterS = r.required(
      'tiers.slow.after_s',
      fields.after_s,
      (v) => r.integer('tiers.slow.after_s', v, POLICY_LIMITS.intervalMinS, POLICY_LIMITS.longestS),
      ' (T2: how old a chain\'s newest point is when the chain moves to slow)',
    );
    const capacity = fields.capacity === undefined ? undefined : this.capacity('tiers.slow.capacity', fields.capacity);
    if (target === undefined || afterS === undefined || (fields.capacity !== undefined && capacity === undefined)) return undefined;
    return capacity === undefined ? { target, after_s: afterS } : { target, capacity, after_s: afterS };
  }

  private capacity(path: string, value: unknown): Capacity | null | undefined {
    if (value === null) return null;
    const r = this.read;
    const fields = r.object(path, value, CAPACITY_UNITS);
    if (!fields) return undefined;
    const given = CAPACITY_UNITS.filter((u) => fields[u] !== undefined);
    if (given.length !== 1) {
      r.problem(path, 'must be {"count": N} or {"bytes": N} (null: unbounded)');
      return undefined;
    }
    if (given[0] === 'count') {
      const count = r.integer(`${path}.count`, fields.count, 1, POLICY_LIMITS.countMax);
      return count === undefined ? undefined : { count };
    }
    const bytes = r.integer(`${path}.bytes`, fields.bytes, 1, Number.MAX_SAFE_INTEGER);
    return bytes === undefined ? undefined : { bytes };
  }

  private plan(value: unknown): PlanLayer | undefined {
    return this.objectOf<PlanLayer>('plan', value, {
      primary: (v) => this.target('plan.primary', v),
      secondaries: (v) => this.secondaries(v),
      copies: (v) => this.read.integer('plan.copies', v, 1, POLICY_LIMITS.copiesMax),
    });
  }

  private secondaries(value: unknown): SecondarySpec[] | undefined {
    const r = this.read;
    const list = r.list('plan.secondaries', value, POLICY_LIMITS.secondariesMax);
    if (!list) return undefined;
    const specs = list.map((entry, i): SecondarySpec | undefined => {
      const path = `plan.secondaries[${i}]`;
      const fields = r.object(path, entry, ['target', 'delay_s']);
      if (!fields) return undefined;
      const target = r.required(`${path}.target`, fields.target, (v) => this.target(`${path}.target`, v));
      const delay = r.required(`${path}.delay_s`, fields.delay_s, (v) => r.integer(`${path}.delay_s`, v, 0, POLICY_LIMITS.longestS), ' (seconds; 0: at once)');
      return target === undefined || delay === undefined ? undefined : { target, delay_s: delay };
    });
    if (specs.some((s) => s === undefined)) return undefined;
    const before = r.problems.length;
    r.unique('plan.secondaries', (specs as SecondarySpec[]).map((s) => s.target), 'target');
    return r.problems.length === before ? (specs as SecondarySpec[]) : undefined;
  }

  private excludeDisks(value: unknown): string[] | undefined {
    const r = this.read;
    const list = r.list('exclude_disks', value, ARG_LIMITS.listItems);
    if (!list) return undefined;
    const disks = list.map((d, i) => r.text(`exclude_disks[${i}]`, d, DEVICE_NAME));
    if (disks.some((d) => d === undefined)) return undefined;
    const before = r.problems.length;
    r.unique('exclude_disks', disks as string[], 'disk');
    return r.problems.length === before ? (disks as string[]) : undefined;
  }

  /** A configured target's name. */
  private target(path: string, value: unknown): string | undefined {
    const name = this.read.text(path, value);
    if (name === undefined) return undefined;
    if (this.context.targets.includes(name)) return name;
    this.read.problem(path, `${quote(name)} is not a configured target (configured: ${this.context.targets.join(', ')})`);
    return undefined;
  }
}
