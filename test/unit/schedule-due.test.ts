import { describe, expect, it } from 'vitest';
import type { MissedSlots, Schedule } from '../../src/policy/policy.js';
import { decideDue, MISSED_COUNT_LIMIT, type DueDecision, type ScheduleState } from '../../src/policy/schedule/due.js';
import { ScheduleError } from '../../src/policy/schedule/schedule-error.js';

const WEEKLY: Schedule = { weekly: { days: ['wed'], time: '22:00', tz: 'Europe/Berlin' } };
const JITTER_MS = 120_000;
// Wednesdays 22:00 in Berlin (CET, +01:00).
const S0 = '2026-02-25T21:00:00.000Z';
const S1 = '2026-03-04T21:00:00.000Z';
const S2 = '2026-03-11T21:00:00.000Z';
const START_S1 = Date.parse(S1) + JITTER_MS;
const LONG_AGO = new Date('2026-01-01T00:00:00Z');

const state = (last_slot: string | null, next_slot: string | null): ScheduleState => ({ last_slot, next_slot });
const ms = (instant: number | string) => new Date(instant);

function decide(input: {
  state: ScheduleState;
  now: Date;
  runningSince?: Date;
  missed?: MissedSlots;
  schedule?: Schedule;
}): DueDecision {
  return decideDue({
    schedule: input.schedule ?? WEEKLY,
    state: input.state,
    missed: input.missed ?? 'catch_up',
    jitterMs: JITTER_MS,
    now: input.now,
    runningSince: input.runningSince ?? LONG_AGO,
  });
}
/** The decision with its dates as ISO strings, for readable expectations. */
function readable(decision: DueDecision) {
  const slotStart = (s: { slot: Date; startAt: Date } | null) => s && { slot: s.slot.toISOString(), startAt: s.startAt.toISOString() };
  return {
    run: slotStart(decision.run),
    missed: decision.missed && {
      count: decision.missed.count,
      countIsExact: decision.missed.countIsExact,
      first: decision.missed.first.toISOString(),
      last: decision.missed.last.toISOString(),
    },
    next: slotStart(decision.next),
  };
}
const at = (slot: string) => ({ slot, startAt: new Date(Date.parse(slot) + JITTER_MS).toISOString() });

describe('decideDue: a new domain', () => {
  it('waits for the first slot after now, and reports nothing missed', () => {
    expect(readable(decide({ state: state(null, null), now: ms('2026-03-04T21:30:00Z') }))).toEqual({ run: null, missed: null, next: at(S2) });
    expect(readable(decide({ state: state(null, null), now: ms('2026-03-04T20:59:00Z') }))).toEqual({ run: null, missed: null, next: at(S1) });
  });
});

describe('decideDue: the normal tick', () => {
  it('runs the slot at its start time (slot + jitter) and waits for the following one', () => {
    expect(readable(decide({ state: state(S0, S1), now: ms(START_S1) }))).toEqual({ run: at(S1), missed: null, next: at(S2) });
  });

  it('runs a slot reached late while running (a late timer) even with skip', () => {
    expect(readable(decide({ state: state(S0, S1), now: ms(START_S1 + 5_000), missed: 'skip' }))).toEqual({ run: at(S1), missed: null, next: at(S2) });
  });

  it('runs nothing between the slot and its start time', () => {
    expect(readable(decide({ state: state(S0, S1), now: ms(START_S1 - 1) }))).toEqual({ run: null, missed: null, next: at(S1) });
  });
});

describe('decideDue: a restart around a due time', () => {
  it('just before the start time: nothing now; the slot runs at its start time', () => {
    const restartedAt = ms(START_S1 - 10_000);
    const onRestart = decide({ state: state(S0, S1), now: restartedAt, runningSince: restartedAt, missed: 'skip' });
    expect(readable(onRestart)).toEqual({ run: null, missed: null, next: at(S1) });
    const atStart = decide({ state: state(S0, S1), now: ms(START_S1), runningSince: restartedAt, missed: 'skip' });
    expect(readable(atStart)).toEqual({ run: at(S1), missed: null, next: at(S2) });
  });

  it('just after the start time with catch_up: the slot runs once now, and is reported', () => {
    const restartedAt = ms(START_S1 + 10_000);
    const decision = decide({ state: state(S0, S1), now: restartedAt, runningSince: restartedAt, missed: 'catch_up' });
    expect(readable(decision)).toEqual({
      run: at(S1),
      missed: { count: 1, countIsExact: true, first: S1, last: S1 },
      next: at(S2),
    });
    // Persisted as told (last_slot = S1, next_slot = S2), a second restart runs nothing.
    const again = decide({ state: state(S1, S2), now: ms(START_S1 + 20_000), runningSince: ms(START_S1 + 20_000) });
    expect(readable(again)).toEqual({ run: null, missed: null, next: at(S2) });
  });

  it('just after the start time with skip: nothing runs, the slot is reported, and not again', () => {
    const restartedAt = ms(START_S1 + 10_000);
    const decision = decide({ state: state(S0, S1), now: restartedAt, runningSince: restartedAt, missed: 'skip' });
    expect(readable(decision)).toEqual({
      run: null,
      missed: { count: 1, countIsExact: true, first: S1, last: S1 },
      next: at(S2),
    });
    const again = decide({ state: state(S0, S2), now: ms(START_S1 + 20_000), runningSince: ms(START_S1 + 20_000), missed: 'skip' });
    expect(readable(again)).toEqual({ run: null, missed: null, next: at(S2) });
  });
});

describe('decideDue: a long outage', () => {
  const restartedAt = ms('2026-05-14T09:00:00Z'); // ten Wednesdays after S1, across the March DST change
  const S11 = '2026-05-13T20:00:00.000Z'; // 22:00 CEST
  const S12 = '2026-05-20T20:00:00.000Z';

  it('with catch_up runs only the newest missed slot, once, and reports all eleven', () => {
    expect(readable(decide({ state: state(S0, S1), now: restartedAt, runningSince: restartedAt }))).toEqual({
      run: at(S11),
      missed: { count: 11, countIsExact: true, first: S1, last: S11 },
      next: at(S12),
    });
  });

  it('with skip runs none and reports all eleven', () => {
    expect(readable(decide({ state: state(S0, S1), now: restartedAt, runningSince: restartedAt, missed: 'skip' }))).toEqual({
      run: null,
      missed: { count: 11, countIsExact: true, first: S1, last: S11 },
      next: at(S12),
    });
  });

  it('counts an interval outage exactly, however long', () => {
    const now = ms('2026-03-07T21:00:30Z');
    const decision = decide({ schedule: { interval_s: 60 }, state: state(null, S1), now, runningSince: now });
    // Slots S1 .. 21:00:00 three days later whose start (+2 min) has come: 3*1440 - 2 + 1.
    expect(readable(decision)).toEqual({
      run: at('2026-03-07T20:58:00.000Z'),
      missed: { count: 4319, countIsExact: true, first: S1, last: '2026-03-07T20:58:00.000Z' },
      next: at('2026-03-07T20:59:00.000Z'),
    });
  });

  it('stops counting a calendar outage at the limit but still names the newest slot', () => {
    const now = ms('2026-03-05T21:00:30Z');
    const decision = decide({ schedule: { cron: '* * * * *', tz: 'Europe/Berlin' }, state: state(null, S1), now, runningSince: now });
    expect(readable(decision)).toEqual({
      run: at('2026-03-05T20:58:00.000Z'),
      missed: { count: MISSED_COUNT_LIMIT, countIsExact: false, first: S1, last: '2026-03-05T20:58:00.000Z' },
      next: at('2026-03-05T20:59:00.000Z'),
    });
  });
});

describe('decideDue: never a double run', () => {
  it('runs no slot at or before last_slot, even if next_slot was not persisted after the run', () => {
    const now = ms(START_S1 + 3_600_000);
    expect(readable(decide({ state: state(S1, S1), now, runningSince: now }))).toEqual({ run: null, missed: null, next: at(S2) });
    expect(readable(decide({ state: state(S1, null), now, runningSince: now }))).toEqual({ run: null, missed: null, next: at(S2) });
  });

  it('gives the same answer when asked twice (a restarted agent computes the same start)', () => {
    const now = ms(START_S1 - 60_000);
    expect(decide({ state: state(S0, S1), now })).toEqual(decide({ state: state(S0, S1), now }));
  });

  it('in the repeated hour of the autumn change: the 02:30 slot runs once', () => {
    const sunday: Schedule = { weekly: { days: ['sun'], time: '02:30', tz: 'Europe/Berlin' } };
    const first = '2026-10-25T00:30:00.000Z'; // the first 02:30 (CEST)
    const following = '2026-11-01T01:30:00.000Z';
    // Down since before the slot; restarted at 01:10Z, which the wall shows as 02:10 (CET), before the second 02:30.
    const restart = ms('2026-10-25T01:10:00Z');
    const onRestart = decide({ schedule: sunday, state: state('2026-10-18T00:30:00.000Z', first), now: restart, runningSince: restart });
    expect(readable(onRestart).run).toEqual(at(first));
    // The second 02:30 (01:30Z) passes: nothing runs.
    const later = ms('2026-10-25T01:40:00Z');
    expect(readable(decide({ schedule: sunday, state: state(first, following), now: later, runningSince: restart }))).toEqual({
      run: null,
      missed: null,
      next: at(following),
    });
  });
});

describe('decideDue: a slot reached while the domain was busy', () => {
  it('runs the newest slot and reports the ones before it that were never started', () => {
    const minutely: Schedule = { interval_s: 60 };
    const now = ms(Date.parse('2026-03-04T21:03:00Z') + JITTER_MS + 10_000);
    expect(readable(decide({ schedule: minutely, state: state(S0, S1), now, missed: 'skip' }))).toEqual({
      run: at('2026-03-04T21:03:00.000Z'),
      missed: { count: 3, countIsExact: true, first: S1, last: '2026-03-04T21:02:00.000Z' },
      next: at('2026-03-04T21:04:00.000Z'),
    });
  });
});

describe('decideDue: a changed schedule', () => {
  it('starts over from now when next_slot is not a slot of the new schedule, reporting nothing', () => {
    const now = ms('2026-05-14T09:00:00Z'); // weeks after S1: the old schedule's slots are no misses
    const daily0315: Schedule = { cron: '15 3 * * *', tz: 'Europe/Berlin' };
    expect(readable(decide({ schedule: daily0315, state: state(S0, S1), now, runningSince: now }))).toEqual({
      run: null,
      missed: null,
      next: at('2026-05-15T01:15:00.000Z'),
    });
  });

  it('starts over when the new schedule fires sooner than the old next_slot', () => {
    // Weekly on Wednesday to daily at 22:00: S1 is a daily slot too, but Sunday's comes first.
    const now = ms('2026-03-01T12:00:00Z');
    const daily: Schedule = { cron: '0 22 * * *', tz: 'Europe/Berlin' };
    expect(readable(decide({ schedule: daily, state: state(S0, S1), now }))).toEqual({
      run: null,
      missed: null,
      next: at('2026-03-01T21:00:00.000Z'),
    });
  });

  it('keeps the waited-for slot when it is still the next one', () => {
    const now = ms('2026-03-03T12:00:00Z');
    const twoDays: Schedule = { cron: '0 22 * * wed,sat', tz: 'Europe/Berlin' };
    expect(readable(decide({ schedule: twoDays, state: state(S0, S1), now }))).toEqual({ run: null, missed: null, next: at(S1) });
  });
});

describe('decideDue: bad state', () => {
  it('refuses a state instant that is not ISO-8601, naming it', () => {
    expect(() => decide({ state: state('yesterday', S1), now: ms(START_S1) })).toThrow(
      new ScheduleError('schedule state last_slot "yesterday" is not an ISO-8601 instant'),
    );
  });
});
