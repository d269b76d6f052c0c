import { dayKey } from "./calendar";
import { add } from "./money";
import type { Limits, Spend } from "./types";

// Days are the account's own (calendar.ts): re-exported for the modules that count by day.
export { cachedFormatters, dayKey, MAX_FORMATTERS } from "./calendar";

/**
 * The canonical IANA name of a zone (`eUrOpE/pArIs` → `Europe/Paris`), or null when it is not one.
 * Names are case-insensitive, so accounts store this form: one spelling per zone.
 */
export function canonicalTimeZone(timeZone: string): string | null {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

export function isValidTimeZone(timeZone: string): boolean {
  return canonicalTimeZone(timeZone) !== null;
}

export function periodKeys(now: number, timeZone: string | null): { dayKey: string; monthKey: string } {
  const day = dayKey(now, timeZone);
  return { dayKey: day, monthKey: day.slice(0, 7) };
}

/** Spend counters as of `now`: a counter of a past day or month starts again from zero. */
export function currentSpend(spend: Spend, now: number, timeZone: string | null): Spend {
  const keys = periodKeys(now, timeZone);
  if (keys.dayKey === spend.dayKey && keys.monthKey === spend.monthKey) return spend;
  return {
    dayKey: keys.dayKey,
    day: keys.dayKey === spend.dayKey ? spend.day : 0,
    monthKey: keys.monthKey,
    month: keys.monthKey === spend.monthKey ? spend.month : 0,
  };
}

/**
 * The counters carried over to another calendar: what was spent in the current day and month stays
 * spent, now filed under the new zone's current day and month.
 */
export function rezoneSpend(spend: Spend, now: number, from: string | null, to: string | null): Spend {
  if (from === to) return spend;
  const current = currentSpend(spend, now, from);
  return { ...periodKeys(now, to), day: current.day, month: current.month };
}

export function addSpend(spend: Spend, amount: number): Spend {
  return { ...spend, day: add(spend.day, amount), month: add(spend.month, amount) };
}

export interface LimitBreach {
  period: "daily" | "monthly";
  limit: number;
  /** Spent plus reserved by active holds in the period. */
  committed: number;
}

/**
 * Whether spending `amount` more would pass a limit. Active holds count as committed spend: a hold
 * is a promise to spend, so holds cannot be used to slip past a limit.
 */
export function limitBreach(limits: Limits, spend: Spend, held: number, amount: number): LimitBreach | null {
  return limitBreaches(limits, spend, held, amount)[0] ?? null;
}

/** Every limit that spending `amount` more would pass, daily first. */
export function limitBreaches(limits: Limits, spend: Spend, held: number, amount: number): LimitBreach[] {
  const out: LimitBreach[] = [];
  if (limits.daily !== null) {
    const committed = add(spend.day, held);
    if (add(committed, amount) > limits.daily) out.push({ period: "daily", limit: limits.daily, committed });
  }
  if (limits.monthly !== null) {
    const committed = add(spend.month, held);
    if (add(committed, amount) > limits.monthly) out.push({ period: "monthly", limit: limits.monthly, committed });
  }
  return out;
}
