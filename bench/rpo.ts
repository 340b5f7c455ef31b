import type { Notification } from '../src/bus/rpc-client.js';

/**
 * The RPO run's arithmetic, kept pure: when a notification was sent, which copy brought a
 * point to a target, and the floor each RPO sample is held against.
 */

/** An oslo notification's `timestamp` (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) in epoch ms. */
export function notificationTimeMs(timestamp: string): number {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?$/.exec(timestamp);
  const ms = m ? Date.parse(`${m[1]}T${m[2]}${(m[3] ?? '').slice(0, 4)}Z`) : NaN;
  if (!Number.isFinite(ms)) throw new Error(`not a notification timestamp: ${JSON.stringify(timestamp)}`);
  return ms;
}

/** When the first `virt_dr.replicate.end` naming the point on that target was sent; null before. */
export function replicatedAtMs(events: readonly Notification[], backupId: string, target: string): number | null {
  const end = events.find(
    (n) => n.event_type === 'virt_dr.replicate.end' && n.payload.target === target && (n.payload.backup_ids as string[] | undefined)?.includes(backupId),
  );
  return end ? notificationTimeMs(end.timestamp) : null;
}

/**
 * The RPO a schedule allows at `atMs` at best: the age of its latest tick, as if each
 * backup were on the DR node the instant it was asked for. `ticksMs` ascending; an
 * instant before the first tick has no floor.
 */
export function rpoFloorS(ticksMs: readonly number[], atMs: number): number {
  const latest = ticksMs.filter((t) => t <= atMs).at(-1);
  if (latest === undefined) throw new Error(`no tick at or before ${atMs}`);
  return (atMs - latest) / 1000;
}
