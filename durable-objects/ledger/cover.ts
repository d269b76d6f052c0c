// Holds keep their cover. A hold that ends at E can only be paid from lots that still live at E, so
// for every active hold's end E: the credits in lots outliving E must pay for all holds ending at or
// after E. Holds are refused when this would fail, and spending burns around the credits holds need,
// so an expiring lot can never leave a hold unpaid (available never drops below 0 by expiry).

import { burnOrder, isLive, type Burn } from "./lots";
import { add, sub } from "./money";
import type { Hold, Lot } from "./types";

interface Threshold {
  at: number;
  /** Credits in lots outliving `at`, minus what holds ending at or after `at` need. */
  slack: number;
}

const outlives = (lot: Lot, at: number) => lot.expiresAt === null || lot.expiresAt > at;

/**
 * The slack at every distinct end of an active hold, in O((lots + holds) log) so that an account with
 * many concurrent holds (one per streaming call) does not pay a quadratic price per request.
 */
export function thresholds(lots: readonly Lot[], holds: readonly Hold[], now: number): Threshold[] {
  const active = holds.filter((h) => h.status === "active" && h.expiresAt > now).sort((a, b) => b.expiresAt - a.expiresAt);
  if (active.length === 0) return [];
  // Lots that never expire outlive every end; the others only ends before their own expiry.
  let forever = 0;
  const expiring: Lot[] = [];
  for (const lot of lots) {
    if (!isLive(lot, now)) continue;
    if (lot.expiresAt === null) forever = add(forever, lot.remaining);
    else expiring.push(lot);
  }
  expiring.sort((a, b) => (b.expiresAt as number) - (a.expiresAt as number));
  // Walk the ends from the latest: cover grows as lots expiring after the end come in, need grows as
  // holds ending at or after it come in.
  const out: Threshold[] = [];
  let cover = forever;
  let need = 0;
  let l = 0;
  let h = 0;
  while (h < active.length) {
    const at = (active[h] as Hold).expiresAt;
    while (h < active.length && (active[h] as Hold).expiresAt === at) need = add(need, (active[h++] as Hold).amount);
    while (l < expiring.length && ((expiring[l] as Lot).expiresAt as number) > at) cover = add(cover, (expiring[l++] as Lot).remaining);
    out.push({ at, slack: sub(cover, need) });
  }
  return out.reverse();
}

/** Whether every hold end up to `until` keeps its cover (a new hold affects only the ends up to its own). */
export function holdsCovered(lots: readonly Lot[], holds: readonly Hold[], now: number, until = Infinity): boolean {
  return thresholds(lots, holds, now).every((t) => t.at > until || t.slack >= 0);
}

/**
 * Takes up to `amount` from live lots in burn order, but never the credits that active holds need.
 * Because the constraints nest (a lot outliving a later end outlives every earlier one), taking as
 * much as allowed from each lot in turn takes the most that can be taken; with cover intact that is
 * exactly `available`. `shortfall` is what could not be taken.
 */
export function burnAroundHolds(lots: readonly Lot[], amount: number, holds: readonly Hold[], now: number): Burn {
  const limits = thresholds(lots, holds, now);
  const replaced = new Map<string, Lot>();
  let left = amount;
  for (const lot of lots.filter((l) => isLive(l, now)).sort(burnOrder)) {
    if (left === 0) break;
    let take = Math.min(lot.remaining, left);
    for (const t of limits) if (outlives(lot, t.at)) take = Math.min(take, Math.max(0, t.slack));
    if (take === 0) continue;
    for (const t of limits) if (outlives(lot, t.at)) t.slack = sub(t.slack, take);
    replaced.set(lot.id, { ...lot, remaining: sub(lot.remaining, take) });
    left = sub(left, take);
  }
  return {
    lots: lots.map((lot) => replaced.get(lot.id) ?? lot),
    changed: [...replaced.values()],
    burned: sub(amount, left),
    shortfall: left,
  };
}
