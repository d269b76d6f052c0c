// What falls due with time alone: lots expire, holds expire, allowance periods end, and lots coming
// within a week of their expiry are announced. Balances never wait for this (an expired lot counts for
// nothing from its instant); settling writes the journal entries and events that say so, each dated
// at the instant it fell due, in time order, however late it runs (a request, the object's alarm or
// the cron sweep, whichever comes first). It runs in the same transaction as the request that
// triggered it, and what it settles is gone from the state, so it is written exactly once.

import { rollAllowance } from "./allowance";
import { afterBalanceChange } from "./credit";
import { totals, type Draft } from "./draft";
import { burnOrder, isLive } from "./lots";
import { checkCrossing, rechargeWakeAt } from "./recharge";
import type { LedgerState, Lot } from "./types";

/** Lots are announced (`credits.expiring`) once, this long before they expire. */
export const EXPIRING_NOTICE_MS = 7 * 86_400_000;
/**
 * The most instants one transaction settles. An account left alone for years with a daily allowance
 * catches up over several transactions (the alarm comes back at once) rather than in one huge one.
 */
export const MAX_SETTLE_INSTANTS = 1000;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * When a lot is announced as expiring: a week before, or when it was created if that is later. Not
 * allowance lots, nor rollover lots that live a week or less (daily and weekly plans): they renew every
 * period, and announcing each would be noise; the account's allowance says when its period ends.
 */
export function noticeAt(lot: Lot): number | null {
  if (lot.expiresAt === null || lot.expiringNotified || lot.source === "allowance") return null;
  if (lot.source === "rollover" && lot.expiresAt - lot.createdAt <= EXPIRING_NOTICE_MS) return null;
  return Math.max(lot.createdAt, lot.expiresAt - EXPIRING_NOTICE_MS);
}

/** The earliest instant at or before `until` at which a lot, a hold or the allowance period ends. */
function nextEnd(state: LedgerState, until: number): number | null {
  let at: number | null = null;
  for (const lot of state.lots) {
    if (lot.remaining > 0 && lot.expiresAt !== null && lot.expiresAt <= until && (at === null || lot.expiresAt < at)) at = lot.expiresAt;
  }
  for (const hold of state.holds) {
    if (hold.status === "active" && hold.expiresAt <= until && (at === null || hold.expiresAt < at)) at = hold.expiresAt;
  }
  const end = state.allowance?.periodEnd;
  if (end !== undefined && end <= until && (at === null || end < at)) at = end;
  return at;
}

/** Writes, in time order, everything that fell due up to the draft's now. */
export function settleInto(draft: Draft): void {
  for (let i = 0; i < MAX_SETTLE_INSTANTS; i++) {
    const at = nextEnd(draft.state, draft.now);
    if (at === null) break;
    settleAt(draft, at);
  }
  announceExpiring(draft);
  // An expiry can take the balance below the threshold even when the request that follows is refused.
  afterBalanceChange(draft);
}

function settleAt(draft: Draft, at: number): void {
  // What was available the instant before: an expiry that takes it below the threshold is a crossing.
  const before = draft.state.autoRecharge?.enabled ? totals(draft.state, at - 1).available : 0;
  settleInstant(draft, at);
  checkCrossing(draft, before);
}

function settleInstant(draft: Draft, at: number): void {
  const allowance = draft.state.allowance;
  const boundary = allowance !== null && allowance.periodEnd === at;
  // The allowance's own lot ends with its period, where the rollover decides what becomes of it.
  const lots = draft.state.lots.filter((lot) => lot.remaining > 0 && lot.expiresAt === at && !(boundary && lot.id === allowance.lotId));
  for (const lot of lots.sort(burnOrder)) expireLot(draft, lot, at);
  if (boundary) rollAllowance(draft, at);
  for (const hold of draft.state.holds) {
    if (hold.status !== "active" || hold.expiresAt !== at) continue;
    draft.putHold({ ...hold, status: "expired" });
    draft.entry("hold_expire", 0, { holdId: hold.id, reserved: hold.amount, operation: hold.operation, createdAt: at });
    draft.event("hold.expired", { hold_id: hold.id, amount: hold.amount }, at);
  }
}

function expireLot(draft: Draft, lot: Lot, at: number): void {
  draft.putLot({ ...lot, remaining: 0 });
  draft.entry("expire", -lot.remaining, {
    lotId: lot.id,
    description: `${lot.remaining} credits from ${lot.source} expired`,
    metadata: { expired_at: iso(at), source: lot.source },
    createdAt: at,
  });
  draft.event("credits.expired", { lot_id: lot.id, amount: lot.remaining, source: lot.source, expired_at: iso(at) }, at);
}

/** One `credits.expiring` per live lot once it is within a week of expiring. */
function announceExpiring(draft: Draft): void {
  for (const lot of draft.state.lots) {
    const at = noticeAt(lot);
    if (at === null || at > draft.now || !isLive(lot, draft.now)) continue;
    draft.putLot({ ...lot, expiringNotified: true });
    draft.event("credits.expiring", { lot_id: lot.id, amount: lot.remaining, source: lot.source, expires_at: iso(lot.expiresAt as number) }, at);
  }
}

/** When each kind of work next falls due by itself (null: never), and the earliest of them. */
export interface DueWork {
  dueAt: number | null;
  nextExpiryAt: number | null;
  nextNoticeAt: number | null;
  nextHoldExpiryAt: number | null;
  nextAllowanceAt: number | null;
  /** An auto-recharge try to send, or a crossing held back by the monthly limit to look at again. */
  nextRechargeAt: number | null;
}

export function dueWork(state: LedgerState): DueWork {
  const min = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  let nextExpiryAt: number | null = null;
  let nextNoticeAt: number | null = null;
  let nextHoldExpiryAt: number | null = null;
  for (const lot of state.lots) {
    if (lot.remaining <= 0 || lot.expiresAt === null) continue;
    nextExpiryAt = min(nextExpiryAt, lot.expiresAt);
    nextNoticeAt = min(nextNoticeAt, noticeAt(lot));
  }
  for (const hold of state.holds) if (hold.status === "active") nextHoldExpiryAt = min(nextHoldExpiryAt, hold.expiresAt);
  const nextAllowanceAt = state.allowance?.periodEnd ?? null;
  // An auto-recharge held back by its monthly limit goes at the next month's start, spending or not;
  // a declined charge is retried at its time.
  const nextRechargeAt = rechargeWakeAt(state.autoRecharge);
  const dueAt = [nextExpiryAt, nextNoticeAt, nextHoldExpiryAt, nextAllowanceAt, nextRechargeAt].reduce(min, null);
  return { dueAt, nextExpiryAt, nextNoticeAt, nextHoldExpiryAt, nextAllowanceAt, nextRechargeAt };
}
