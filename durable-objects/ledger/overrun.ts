// A capture's work has already happened, so a capture is never refused; but a hold is the app's own
// estimate of the cost, and a capture far above it is more likely a bug than real usage. So a capture
// is charged at most its hold plus an allowance (CAPTURE_OVERRUN_MAX_PERCENT of the hold), and what a
// capture costs above that is recorded as uncharged rather than taken from the user.

import type { Limits, Spend } from "./types";

export const DEFAULT_CAPTURE_OVERRUN_MAX_PERCENT = 100;

/** How far past its hold a capture may charge: ⌊hold × percent / 100⌋, exact for any safe hold. */
export function overrunAllowance(hold: number, percent: number): number {
  return Number((BigInt(hold) * BigInt(percent)) / 100n);
}

export interface CaptureSplit {
  charged: number;
  /** Computed cost that is not charged. */
  uncharged: number;
}

/**
 * Splits a capture's computed cost into what is charged and what is not. Up to the hold, everything
 * is charged (the hold already counted against the limits). Above it, at most the allowance; and
 * where a spending limit is set, only as far as `limit + allowance` measured against what the
 * period has already committed (spent plus held, this hold included). Without that second bound,
 * several concurrent holds that all overran would each add their allowance past the limit; with it,
 * no sequence of holds and captures takes a period past its limit by more than one capture's
 * allowance.
 */
export function splitCapture(cost: number, hold: number, allowance: number, limits: Limits, spend: Spend, held: number): CaptureSplit {
  const withinHold = Math.min(cost, hold);
  let excess = Math.min(cost - withinHold, allowance);
  for (const [limit, spent] of [
    [limits.daily, spend.day],
    [limits.monthly, spend.month],
  ] as const) {
    if (limit !== null) excess = Math.min(excess, Math.max(0, limit + allowance - (spent + held)));
  }
  const charged = withinHold + excess;
  return { charged, uncharged: cost - charged };
}

/** CAPTURE_OVERRUN_MAX_PERCENT as configured: unset means the default; anything but 0-10000 is refused. */
export function parseOverrunPercent(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_CAPTURE_OVERRUN_MAX_PERCENT;
  const percent = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || percent > 10_000) {
    throw new Error(`CAPTURE_OVERRUN_MAX_PERCENT must be a whole number from 0 to 10000, got '${value}'.`);
  }
  return percent;
}
