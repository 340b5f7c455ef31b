import type { Retention } from './policy.js';
import { calendarKeys, type CalendarKeys } from './calendar.js';
import { byAge, timeOf, type PolicyPoint } from './chains.js';

/**
 * Which scheduled points a retention keeps. Pure: the caller lists the points, deletes the
 * prunes (each merged into its child by the repository, so a chain need not be cut whole)
 * and announces them.
 *
 * - Only `kind: 'scheduled'` points are candidates, in the fast and slow tiers together:
 *   retention counts the domain's history, wherever T2 put it. Manual points are never
 *   pruned automatically (issue 11), so they are left out here, not merely kept.
 * - The newest scheduled point is always kept: the policy runs right after a backup, and
 *   pruning the point just taken would leave the domain less protected than before it.
 * - No retention (null): everything stays; the tiers' capacities decide.
 */

/** The rule that kept a point, for logs and replies. */
export type KeptBy = 'newest' | 'max_count' | 'keep_last' | 'daily' | 'weekly' | 'monthly' | 'no retention';

export interface RetentionSelection<P extends PolicyPoint> {
  /** Newest first. */
  keep: { point: P; by: KeptBy }[];
  /** Newest first, each with the reason a `virt_dr.prune.*` notification and the log give. */
  prune: { point: P; reason: string }[];
}

type GfsRule = 'keep_last' | 'daily' | 'weekly' | 'monthly';
const GFS_RULES: readonly GfsRule[] = ['keep_last', 'daily', 'weekly', 'monthly'];
const PERIOD: Record<Exclude<GfsRule, 'keep_last'>, keyof CalendarKeys> = { daily: 'day', weekly: 'week', monthly: 'month' };

type Mark = { keep: true; by: GfsRule } | { keep: false };

/**
 * One GFS rule over the points, newest first, as Proxmox's prune marks them
 * (proxmox-backup, pbs-datastore/src/prune.rs, `mark_selections`):
 * - a period that already holds a point kept by an earlier rule is covered: no other point
 *   of it is kept, and it does not count toward this rule's N (Proxmox's documentation:
 *   "the next option does not take care of already covered backups; it will only consider
 *   older backups");
 * - otherwise the first (newest) point of each new period is kept and the older points of
 *   that period are marked removed, so later rules pass over them too;
 * - the walk stops at the first point of period N+1, leaving older points for later rules.
 */
function markRule<P extends PolicyPoint>(newestFirst: readonly P[], marks: Map<string, Mark>, count: number, rule: GfsRule, periodOf: (p: P) => string): void {
  const covered = new Set(newestFirst.filter((p) => marks.get(p.backup_id)?.keep).map(periodOf));
  const selected = new Set<string>();
  for (const point of newestFirst) {
    if (marks.has(point.backup_id)) continue;
    const period = periodOf(point);
    if (covered.has(period)) continue;
    if (selected.has(period)) {
      marks.set(point.backup_id, { keep: false });
      continue;
    }
    if (selected.size >= count) break;
    selected.add(period);
    marks.set(point.backup_id, { keep: true, by: rule });
  }
}

function gfsMarks<P extends PolicyPoint>(newestFirst: readonly P[], gfs: Partial<Record<GfsRule, number>>, tz: string): Map<string, Mark> {
  const marks = new Map<string, Mark>();
  const keys = new Map(newestFirst.map((p) => [p.backup_id, calendarKeys(timeOf(p), tz)]));
  for (const rule of GFS_RULES) {
    const count = gfs[rule];
    if (count === undefined) continue;
    const periodOf = rule === 'keep_last' ? (p: P) => p.backup_id : (p: P) => keys.get(p.backup_id)![PERIOD[rule]];
    markRule(newestFirst, marks, count, rule, periodOf);
  }
  return marks;
}

/** "keep_last 2, daily 3": the rules a GFS retention sets, for a prune's reason. */
function describeGfs(gfs: Partial<Record<GfsRule, number>>): string {
  return GFS_RULES.filter((r) => gfs[r] !== undefined).map((r) => `${r} ${gfs[r]}`).join(', ');
}

/** How a retention judges each point (newest first): the rule that keeps it, or null, and why the others go. */
interface Judgement<P> {
  keptBy(point: P, index: number): KeptBy | null;
  reason: string;
}

function judgementOf<P extends PolicyPoint>(newestFirst: readonly P[], retention: Retention | null, tz: string): Judgement<P> {
  const keepAll: Judgement<P> = { keptBy: () => 'no retention', reason: '' };
  if (retention === null) return keepAll;
  if ('max_count' in retention) {
    return { keptBy: (_p, i) => (i < retention.max_count ? 'max_count' : null), reason: `beyond max_count ${retention.max_count}` };
  }
  // A GFS retention that keeps nothing by any rule keeps everything, as Proxmox's prune
  // does without options: a policy left empty must not prune a domain to one point.
  if (!GFS_RULES.some((r) => (retention[r] ?? 0) > 0)) return keepAll;
  const marks = gfsMarks(newestFirst, retention, tz);
  return {
    keptBy: (p) => {
      const mark = marks.get(p.backup_id);
      return mark?.keep ? mark.by : null;
    },
    reason: `not kept by ${describeGfs(retention)}`,
  };
}

/**
 * The keeps and prunes among `points` (any tiers and kinds; only scheduled ones are
 * judged). `tz` is the IANA zone the calendar periods are counted in: the schedule's, or
 * 'UTC'. The periods count back from the points themselves, not from a clock, as
 * Proxmox's do: a domain whose backups stopped keeps its last days, not none.
 */
export function selectRetention<P extends PolicyPoint>(points: readonly P[], retention: Retention | null, tz: string): RetentionSelection<P> {
  const newestFirst = byAge(points.filter((p) => p.kind === 'scheduled')).reverse();
  const judgement = judgementOf(newestFirst, retention, tz);
  const selection: RetentionSelection<P> = { keep: [], prune: [] };
  newestFirst.forEach((point, i) => {
    const by = judgement.keptBy(point, i) ?? (i === 0 ? 'newest' : null);
    if (by) selection.keep.push({ point, by });
    else selection.prune.push({ point, reason: judgement.reason });
  });
  return selection;
}
