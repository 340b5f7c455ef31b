import { InvalidArgument } from '../errors.js';

/**
 * The calendar periods a point falls in, in a given IANA time zone: GFS retention keeps
 * "the newest point of each day", and a day is the operator's day (the schedule's zone),
 * not UTC's: a backup at 00:30 in Berlin belongs to that Berlin day, though UTC still
 * says the day before.
 */
export interface CalendarKeys {
  /** YYYY-MM-DD */
  day: string;
  /** ISO week, YYYY-Www: weeks start on Monday; the year is the ISO week-year (Dec 29 may be week 1). */
  week: string;
  /** YYYY-MM */
  month: string;
}

// One formatter per zone: building an Intl.DateTimeFormat costs far more than using one,
// and a host prunes thousands of domains with a handful of zones.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let formatter = formatters.get(tz);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', { timeZone: tz, year: 'numeric', month: 'numeric', day: 'numeric' });
    } catch (err) {
      throw new InvalidArgument(`unknown time zone ${JSON.stringify(tz)}`, { cause: err });
    }
    formatters.set(tz, formatter);
  }
  return formatter;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The ISO 8601 week of a calendar date: the week of its Thursday, numbered in that Thursday's year. */
function isoWeek(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const mondayBased = (date.getUTCDay() + 6) % 7;
  const thursday = Date.UTC(year, month - 1, day - mondayBased + 3);
  const weekYear = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(weekYear, 0, 1)) / (7 * 86_400_000));
  return `${weekYear}-W${pad(week)}`;
}

export function calendarKeys(instant: number, tz: string): CalendarKeys {
  const parts = formatterFor(tz).formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  const [year, month, day] = [part('year'), part('month'), part('day')];
  return { day: `${pad(year, 4)}-${pad(month)}-${pad(day)}`, week: isoWeek(year, month, day), month: `${pad(year, 4)}-${pad(month)}` };
}
