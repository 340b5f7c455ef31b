import type { PolicyAnswer } from '../api/policy-methods.js';
import { POLICY_KEYS, type Capacity, type Plan, type Policy, type Retention, type Schedule, type Tiers } from '../policy/policy.js';
import type { PolicyKey } from '../policy/resolve-policy.js';
import { formatBytes } from './format.js';

/**
 * `virt-dr policy`'s text (pure): whose policy it is, then one line per key: the key, the
 * layer it came from, its value in words. Enumerated values stay the protocol's tokens,
 * so what a line shows is what `--set` takes.
 */
export function formatPolicy(answer: PolicyAnswer): string[] {
  const keyWidth = Math.max(...POLICY_KEYS.map((k) => k.length)) + 2;
  const sourceWidth = 'built-in'.length + 2;
  const lines = POLICY_KEYS.map((key) => `${key.padEnd(keyWidth)}${answer.sources[key].padEnd(sourceWidth)}${describeKey(key, answer)}`);
  return [`policy of ${ownerOf(answer)}`, ...lines, ...scheduleLines(answer)];
}

/** A domain's schedule as the scheduler keeps it: what ran last, what runs next, why a slot made no job. */
function scheduleLines({ schedule_state: state }: PolicyAnswer): string[] {
  if (!state) return [];
  const lines = [`last slot  ${state.last_slot ?? 'none'}${state.last_job_id ? ` (job ${state.last_job_id})` : ''}`];
  if (state.next_start !== null) lines.push(`next start ${state.next_start}`);
  if (state.pending_slot !== null) lines.push(`waiting    slot ${state.pending_slot}: the domain is busy`);
  if (state.last_error !== null) lines.push(`last error ${state.last_error}`);
  return lines;
}

function ownerOf(answer: PolicyAnswer): string {
  const project = answer.project === null ? '' : `project ${answer.project}`;
  if (answer.domain) return `domain ${answer.domain.name} (${answer.domain.uuid})${project && `, ${project}`}`;
  return project || 'the defaults (policy.defaults in the config file)';
}

const DESCRIBE: { [K in PolicyKey]: (value: Policy[K]) => string } = {
  schedule: describeSchedule,
  missed: (missed) => missed,
  jitter_s: (jitter) => (jitter === null ? "the scheduler's default" : `up to ${jitter} s`),
  retention: describeRetention,
  chain_length: (n) => (n === 0 ? '0 (incrementals while the chain is intact)' : `${n} (a new full after ${n} incrementals)`),
  tiers: describeTiers,
  plan: describePlan,
  quiesce: (quiesce) => quiesce,
  engine: (engine) => engine,
  exclude_disks: (disks) => (disks.length === 0 ? 'none' : disks.join(', ')),
};

function describeKey<K extends PolicyKey>(key: K, policy: Policy): string {
  return DESCRIBE[key](policy[key]);
}

export function describeSchedule(schedule: Schedule | null): string {
  if (schedule === null) return 'none (backups only on request)';
  if ('interval_s' in schedule) return `every ${schedule.interval_s} s`;
  if ('cron' in schedule) return `cron ${schedule.cron} (${schedule.tz})`;
  if ('weekly' in schedule) return `weekly ${schedule.weekly.days.join(',')} ${schedule.weekly.time} (${schedule.weekly.tz})`;
  return JSON.stringify(schedule); // a form of a newer agent
}

export function describeRetention(retention: Retention | null): string {
  if (retention === null) return "none (the tiers' capacities decide)";
  if ('max_count' in retention) return `max ${retention.max_count}`;
  const kept = (['keep_last', 'daily', 'weekly', 'monthly'] as const).filter((k) => retention[k] !== undefined).map((k) => `${k} ${retention[k]}`);
  return kept.length === 0 ? 'keep none' : kept.join(', ');
}

export function describeCapacity(capacity: Capacity | null): string {
  if (capacity === null) return 'unbounded';
  if ('count' in capacity) return `${capacity.count} point${capacity.count === 1 ? '' : 's'}`;
  return formatBytes(capacity.bytes);
}

export function describeTiers(tiers: Tiers): string {
  const slow = tiers.slow ? `slow ${tiers.slow.target} after ${tiers.slow.after_s} s (${describeCapacity(tiers.slow.capacity)})` : 'no slow';
  return `fast ${tiers.fast.target} (${describeCapacity(tiers.fast.capacity)}), ${slow}, manual ${tiers.manual.target} (${describeCapacity(tiers.manual.capacity)})`;
}

export function describePlan(plan: Plan): string {
  const secondaries = plan.secondaries.length === 0 ? 'no secondaries' : `secondaries ${plan.secondaries.map((s) => `${s.target} (+${s.delay_s} s)`).join(', ')}`;
  return `primary ${plan.primary}, ${secondaries}; copies ${plan.copies}`;
}
