import { createHash } from 'node:crypto';
import type { Schedule } from '../policy.js';
import { compileSchedule } from './compile.js';
import { nextSlotMs } from './next-slot.js';

/**
 * Jitter spreads the domains that share a slot over a window, so 500 domains due at
 * 22:00 do not all start at 22:00:00. Each domain's delay comes from a hash of its UUID:
 * the same on every slot and after every restart (a restarted agent computes the start
 * time it had promised), and with no state to keep or lose.
 */

/** A delay in [0, jitterS * 1000] ms, fixed for `domainUuid`. */
export function jitterMs(domainUuid: string, jitterS: number): number {
  const spanMs = Math.round(jitterS * 1000);
  if (!(spanMs > 0)) return 0;
  // libvirt prints UUIDs in lower case; normalising keeps "the same UUID" one delay.
  const digest = createHash('sha256').update(domainUuid.trim().toLowerCase()).digest();
  // 64 bits modulo at most ~1e9: the bias is below one part in 1e10.
  return Number(digest.readBigUInt64BE(0) % BigInt(spanMs + 1));
}

/** The default window is this share of the schedule's period... */
export const DEFAULT_JITTER_SHARE = 0.1;
/** ...and never more than 15 minutes, so a nightly backup still starts near its time. */
export const MAX_DEFAULT_JITTER_S = 900;

/** A fixed start for measuring a calendar schedule's period, so the default never depends on "now". */
const PERIOD_REFERENCE_MS = Date.UTC(2026, 0, 5);
const PERIOD_SAMPLE_SLOTS = 16;

/**
 * The jitter a policy gets when it names none: 10% of the period, at most 900 s, in
 * whole seconds. For cron and weekly schedules the period is the shortest gap between 16
 * consecutive slots from a fixed date: a schedule's tightest spacing (22:00 on weekdays:
 * one day, not three), so a start never slides past the domain's next slot.
 */
export function defaultJitterS(schedule: Schedule): number {
  const compiled = compileSchedule(schedule);
  let periodMs: number;
  if (compiled.kind === 'interval') {
    periodMs = compiled.intervalMs;
  } else {
    periodMs = Infinity;
    let slot = nextSlotMs(compiled, PERIOD_REFERENCE_MS);
    for (let i = 1; i < PERIOD_SAMPLE_SLOTS; i++) {
      const following = nextSlotMs(compiled, slot);
      periodMs = Math.min(periodMs, following - slot);
      slot = following;
    }
  }
  return Math.min(MAX_DEFAULT_JITTER_S, Math.floor((periodMs / 1000) * DEFAULT_JITTER_SHARE));
}
