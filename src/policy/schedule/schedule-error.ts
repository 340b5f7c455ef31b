/**
 * A schedule that cannot run: a malformed cron, an unknown time zone, a bad time of day.
 *
 * Deliberately not a `VirtDrError`: schedules are checked inside the policy parser, which
 * collects every problem of a policy and refuses it whole with its own protocol error
 * class. The message is meant to be shown as is (`cron "0 25 * * 3": hour 25 is outside 0-23`).
 */
export class ScheduleError extends Error {
  constructor(
    message: string,
    /** The problem without what it is about (`hour 25 is outside 0-23`), for a caller that names the value itself. */
    readonly problem: string = message,
  ) {
    super(message);
    this.name = 'ScheduleError';
  }
}
