// The account's calendar: local days, and the instants at which local days, weeks (Monday) and months
// begin, in the account's IANA time zone (UTC when it sets none). Pure: Intl only, no Cloudflare.
//
// Formatting a date in a time zone is the one costly step, so formatters are made once per zone and
// kind. Accounts store canonical zone names, so a few hundred zones at most are ever in use; the bound
// holds whatever spellings reach it (least recently used goes first), so no caller can grow it.

export const MAX_FORMATTERS = 512;
const formatters = new Map<string, Intl.DateTimeFormat>();

type Kind = "date" | "clock";

function formatter(timeZone: string, kind: Kind): Intl.DateTimeFormat {
  const key = `${kind}:${timeZone}`;
  let f = formatters.get(key);
  if (f) {
    formatters.delete(key);
  } else {
    // en-CA formats a date as YYYY-MM-DD; the clock kind gives every field as a number.
    f = kind === "date"
      ? new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" })
      : new Intl.DateTimeFormat("en-US", {
          timeZone,
          hourCycle: "h23",
          year: "numeric",
          month: "numeric",
          day: "numeric",
          hour: "numeric",
          minute: "numeric",
          second: "numeric",
        });
    if (formatters.size >= MAX_FORMATTERS) formatters.delete(formatters.keys().next().value as string);
  }
  formatters.set(key, f);
  return f;
}

/** How many zone formatters this isolate holds (for tests of the bound). */
export function cachedFormatters(): number {
  return formatters.size;
}

/** The calendar day ("2026-11-24") of an instant in the zone (UTC when none is set). */
export function dayKey(now: number, timeZone: string | null): string {
  if (timeZone === null) return new Date(now).toISOString().slice(0, 10);
  return formatter(timeZone, "date").format(new Date(now));
}

export type Interval = "day" | "week" | "month";

const DAY_MS = 86_400_000;
/** Every zone's offset lies within this of UTC (today's extremes are −12 h and +14 h). */
const MAX_OFFSET_MS = 15 * 3_600_000;

const utcMidnight = (date: string) => Date.parse(`${date}T00:00:00.000Z`);
const dateOf = (utcMs: number) => new Date(utcMs).toISOString().slice(0, 10);

/** The zone's offset from UTC at `t` (local wall clock − UTC), to the second. */
function offsetAt(t: number, timeZone: string): number {
  const whole = Math.floor(t / 1000) * 1000;
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone, "clock").formatToParts(new Date(whole))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const wall = Date.UTC(parts.year as number, (parts.month as number) - 1, parts.day as number, parts.hour, parts.minute, parts.second);
  return wall - whole;
}

/**
 * The first instant of a local date in the zone. Usually local midnight; where a daylight-saving jump
 * skips midnight (America/Santiago in September), the day begins when the clocks jump, and where
 * midnight happens twice, at the first one.
 */
export function startOfDay(date: string, timeZone: string | null): number {
  const naive = utcMidnight(date);
  if (timeZone === null) return naive;
  let t = naive - offsetAt(naive, timeZone);
  t = naive - offsetAt(t, timeZone);
  if (dayKey(t, timeZone) === date && dayKey(t - 1, timeZone) < date) return t;
  // The local date only ever moves forward, so the first instant showing `date` can be searched for.
  let before = naive - MAX_OFFSET_MS;
  let at = naive + MAX_OFFSET_MS;
  while (at - before > 1) {
    const mid = Math.floor((before + at) / 2);
    if (dayKey(mid, timeZone) >= date) at = mid;
    else before = mid;
  }
  return at;
}

/** The local date that starts the next period after the one holding `date`. */
function nextPeriodDate(date: string, interval: Interval): string {
  const midnight = utcMidnight(date);
  if (interval === "day") return dateOf(midnight + DAY_MS);
  if (interval === "week") {
    // Weeks start on Monday (ISO 8601); getUTCDay() is 0 for Sunday.
    const weekday = new Date(midnight).getUTCDay();
    return dateOf(midnight + ((8 - weekday) % 7 || 7) * DAY_MS);
  }
  const d = new Date(midnight);
  return dateOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
}

/** The first period boundary strictly after `t`: the next local midnight, Monday 00:00 or the 1st. */
export function nextBoundary(t: number, interval: Interval, timeZone: string | null): number {
  return startOfDay(nextPeriodDate(dayKey(t, timeZone), interval), timeZone);
}

/** The boundary `count` periods after `t` (count ≥ 1). */
export function boundaryAfter(t: number, interval: Interval, timeZone: string | null, count: number): number {
  let at = t;
  for (let i = 0; i < count; i++) at = nextBoundary(at, interval, timeZone);
  return at;
}
