import { add, sub } from "./money";
import type { Lot } from "./types";

/** A lot counts from its creation until the instant it expires: at `expiresAt` it is worth nothing. */
export function isLive(lot: Lot, now: number): boolean {
  return lot.remaining > 0 && (lot.expiresAt === null || lot.expiresAt > now);
}

export function liveCredits(lots: readonly Lot[], now: number): number {
  let total = 0;
  for (const lot of lots) if (isLive(lot, now)) total = add(total, lot.remaining);
  return total;
}

/**
 * Burn order: priority, then soonest expiry (never-expiring last), then rolled-over credits before
 * others expiring at the same instant, then oldest, then id for a total order. (A rollover lot ends
 * with the period it rolled into, as does that period's allowance: spending it first leaves more of
 * the allowance to roll over again.)
 */
export function burnOrder(a: Lot, b: Lot): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  if (a.expiresAt !== b.expiresAt) {
    if (a.expiresAt === null) return 1;
    if (b.expiresAt === null) return -1;
    return a.expiresAt - b.expiresAt;
  }
  if ((a.source === "rollover") !== (b.source === "rollover")) return a.source === "rollover" ? -1 : 1;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export interface Burn {
  /** Every lot, with the burned ones replaced by their new version. */
  lots: Lot[];
  /** Only the lots that changed. */
  changed: Lot[];
  burned: number;
  /** What the live lots could not cover. */
  shortfall: number;
}

/** Takes `amount` from live lots in burn order. Never takes more than the lots hold. */
export function burn(lots: readonly Lot[], amount: number, now: number): Burn {
  const order = lots.filter((lot) => isLive(lot, now)).sort(burnOrder);
  const replaced = new Map<string, Lot>();
  let left = amount;
  for (const lot of order) {
    if (left === 0) break;
    const take = Math.min(lot.remaining, left);
    replaced.set(lot.id, { ...lot, remaining: sub(lot.remaining, take) });
    left = sub(left, take);
  }
  const changed = [...replaced.values()];
  return {
    lots: lots.map((lot) => replaced.get(lot.id) ?? lot),
    changed,
    burned: sub(amount, left),
    shortfall: left,
  };
}

/** The earliest future expiry among live lots, with the credits that expire then. */
export function nextExpiry(lots: readonly Lot[], now: number): { at: number; amount: number } | null {
  let at: number | null = null;
  let amount = 0;
  for (const lot of lots) {
    if (!isLive(lot, now) || lot.expiresAt === null) continue;
    if (at === null || lot.expiresAt < at) {
      at = lot.expiresAt;
      amount = lot.remaining;
    } else if (lot.expiresAt === at) {
      amount = add(amount, lot.remaining);
    }
  }
  return at === null ? null : { at, amount };
}
