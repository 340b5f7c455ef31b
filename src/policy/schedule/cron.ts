import { ScheduleError } from './schedule-error.js';

/**
 * A parsed 5-field cron expression (minute hour day-of-month month day-of-week), with
 * Vixie cron's meaning, the one operators know from crontab(5).
 */
export interface CronSpec {
  /** Ascending, so a day's matching times come out in order without sorting. */
  minutes: readonly number[];
  hours: readonly number[];
  daysOfMonth: ReadonlySet<number>;
  /** 1-12. */
  months: ReadonlySet<number>;
  /** 0-6, 0 = Sunday (a 7 in the expression is stored as 0). */
  daysOfWeek: ReadonlySet<number>;
  /**
   * Vixie's rule: when neither day field starts with `*`, a day matches if EITHER matches
   * (`0 0 1 * mon` is the 1st and every Monday); otherwise both must.
   */
  dayMatchesEither: boolean;
}

interface FieldRule {
  name: string;
  min: number;
  max: number;
  /** Names for min, min+1, ... (jan = 1, sun = 0). */
  names?: readonly string[];
}

const FIELD_RULES: readonly FieldRule[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  // 0-7: both 0 and 7 are Sunday, as in every cron since Vixie's.
  { name: 'day-of-week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/**
 * The macros that are plain shorthands. @reboot has no time at all and @yearly a period
 * longer than any backup policy means, so both are refused rather than guessed at.
 */
const MACROS: Readonly<Record<string, string>> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
};

/** The longest each month can be (February: 29, in leap years). */
const MONTH_MAX_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Parses `expr`; throws a `ScheduleError` naming the field and the problem. */
export function parseCron(expr: string): CronSpec {
  const fail = (problem: string): ScheduleError => new ScheduleError(`cron ${JSON.stringify(expr)}: ${problem}`, problem);
  const text = expr.trim();
  if (text.startsWith('@')) {
    const expansion = MACROS[text.toLowerCase()];
    if (expansion === undefined) {
      throw fail(`${text} is not supported; use 5 fields or one of ${Object.keys(MACROS).join(', ')}`);
    }
    return parseFields(expansion.split(' '), fail);
  }
  const fields = text === '' ? [] : text.split(/\s+/);
  if (fields.length !== 5) {
    const hint = fields.length === 6 || fields.length === 7 ? '; seconds and years are not supported' : '';
    throw fail(`has ${fields.length} fields, expected 5 (minute hour day-of-month month day-of-week)${hint}`);
  }
  return parseFields(fields, fail);
}

function parseFields(fields: string[], fail: (problem: string) => ScheduleError): CronSpec {
  const [minute, hour, dayOfMonth, month, dayOfWeek] = FIELD_RULES.map((rule, i) => parseField(fields[i]!, rule, fail)) as [
    number[],
    number[],
    number[],
    number[],
    number[],
  ];
  const spec: CronSpec = {
    minutes: minute,
    hours: hour,
    daysOfMonth: new Set(dayOfMonth),
    months: new Set(month),
    daysOfWeek: new Set(dayOfWeek.map((day) => day % 7)),
    dayMatchesEither: !fields[2]!.startsWith('*') && !fields[4]!.startsWith('*'),
  };
  // Caught here, not by a search: `0 0 30 2 *` would otherwise be found only by scanning
  // a century of days. With either-rule any weekday matches, and every weekday occurs in
  // every month; with both-rule every (month, day) pair falls on every weekday some year.
  if (!spec.dayMatchesEither && !month.some((m) => dayOfMonth.some((d) => d <= MONTH_MAX_DAYS[m - 1]!))) {
    throw fail(`never runs: day-of-month "${fields[2]}" does not occur in month "${fields[3]}"`);
  }
  return spec;
}

/** One field's values, ascending and without repeats. */
function parseField(text: string, rule: FieldRule, fail: (problem: string) => ScheduleError): number[] {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') throw fail(`${rule.name} "${text}" has an empty list item`);
    const [range, step, ...rest] = item.split('/');
    if (rest.length > 0) throw fail(`${rule.name} "${item}" has more than one step`);
    let low: number;
    let high: number;
    if (range === '*') {
      low = rule.min;
      high = rule.max;
    } else {
      const bounds = range!.split('-');
      if (bounds.length > 2) throw fail(`${rule.name} "${item}" is not a value or a range a-b`);
      low = parseValue(bounds[0]!, rule, fail);
      high = bounds.length === 2 ? parseValue(bounds[1]!, rule, fail) : low;
      if (low > high) throw fail(`${rule.name} range "${range}" runs backwards`);
      // Vixie reads `5/10` as `5` and cronie as `5-59/10`: refuse rather than pick one.
      if (step !== undefined && bounds.length === 1) {
        throw fail(`${rule.name} "${item}": a step needs a range or * (write ${bounds[0]}-${rule.max}/${step})`);
      }
    }
    const stride = step === undefined ? 1 : parseStep(step, item, rule, fail);
    for (let value = low; value <= high; value += stride) values.add(value);
  }
  return [...values].sort((a, b) => a - b);
}

function parseValue(token: string, rule: FieldRule, fail: (problem: string) => ScheduleError): number {
  if (/^\d+$/.test(token)) {
    const value = Number(token);
    if (value < rule.min || value > rule.max) throw fail(`${rule.name} ${token} is outside ${rule.min}-${rule.max}`);
    return value;
  }
  const index = rule.names?.indexOf(token.toLowerCase()) ?? -1;
  if (index >= 0) return rule.min + index;
  const names = rule.names === undefined ? '' : ` or a name (${rule.names[0]}..${rule.names[rule.names.length - 1]})`;
  throw fail(`${rule.name} "${token}" is not a number${names}`);
}

function parseStep(token: string, item: string, rule: FieldRule, fail: (problem: string) => ScheduleError): number {
  if (!/^\d+$/.test(token) || Number(token) < 1) {
    throw fail(`${rule.name} "${item}": the step must be a whole number of at least 1`);
  }
  return Number(token);
}

/** Whether the day (`month` 1-12, `weekday` 0 = Sunday) is one the expression runs on. */
export function cronMatchesDay(spec: CronSpec, dayOfMonth: number, month: number, weekday: number): boolean {
  if (!spec.months.has(month)) return false;
  const byDate = spec.daysOfMonth.has(dayOfMonth);
  const byWeekday = spec.daysOfWeek.has(weekday);
  return spec.dayMatchesEither ? byDate || byWeekday : byDate && byWeekday;
}

const EVERY_DAY_OF_MONTH = new Set(Array.from({ length: 31 }, (_, i) => i + 1));
const EVERY_MONTH = new Set(Array.from({ length: 12 }, (_, i) => i + 1));

/** The spec of "these weekdays at hour:minute": a weekly schedule runs on the cron machinery. */
export function weeklyCronSpec(weekdays: readonly number[], hour: number, minute: number): CronSpec {
  return {
    minutes: [minute],
    hours: [hour],
    daysOfMonth: EVERY_DAY_OF_MONTH,
    months: EVERY_MONTH,
    daysOfWeek: new Set(weekdays),
    dayMatchesEither: false,
  };
}
