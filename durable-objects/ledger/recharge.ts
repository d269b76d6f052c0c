// Auto-recharge as pure rules (issue 10). The debit or capture that takes `available` below the
// threshold marks one charge as due in its own transaction; the object's alarm then asks Stripe for an
// off-session PaymentIntent under a key fixed by (attempt, try), so a crashed alarm retried later
// cannot charge twice; credits land only when Stripe says the payment succeeded (the webhook, or the
// cron's charged ⇒ credited pass). At most one attempt is in flight; money charged is capped per
// calendar month of the account.

import type { Draft } from "./draft";
import { periodKeys } from "./limits";
import type { LedgerState } from "./types";

/** Declines that may pass (insufficient funds, a processing error) are tried this many times in all. */
export const MAX_TRIES = 3;
/** Pause before the 2nd and 3rd try of a declined charge. */
export const RETRY_AFTER_MS = [6 * 3_600_000, 24 * 3_600_000] as const;

export interface RechargePlan {
  threshold: number;
  packageId: string;
  /** What the package gives and costs, as it was when auto-recharge was set (re-read on each change). */
  credits: number;
  amount: number;
  currency: string;
  /** Money charged per calendar month at most (the package's currency, smallest unit); null: no cap. */
  monthlyLimit: number | null;
}

export interface Attempt {
  /** 1, 2, 3 …: with the try, names the Stripe idempotency key. */
  number: number;
  tries: number;
  /** When the alarm should ask Stripe (again); null while Stripe has the current try. */
  nextTryAt: number | null;
  since: number;
}

/** The saved card auto-recharge charges off-session (from a checkout with save_payment_method). */
export interface SavedCard {
  customer: string;
  paymentMethod: string;
}

export interface AutoRecharge {
  enabled: boolean;
  plan: RechargePlan;
  /** null: no saved card yet; auto-recharge starts working after a checkout that saves one. */
  card: SavedCard | null;
  status: "idle" | "in_flight" | "disabled";
  disabledReason: string | null;
  attempts: number;
  inFlight: Attempt | null;
  monthKey: string;
  chargedThisMonth: number;
  lastAttemptAt: number | null;
  /** Why the last crossing charged nothing although auto-recharge is on ("monthly_limit_reached"). */
  heldBack: string | null;
}

/** The Stripe idempotency key of a try: the same try never makes a second PaymentIntent. */
export const rechargeKey = (accountId: string, attempt: Attempt) => `auto_recharge:${accountId}:${attempt.number}:${attempt.tries}`;

export function thisMonth(ar: AutoRecharge, now: number, timeZone: string | null): AutoRecharge {
  const { monthKey } = periodKeys(now, timeZone);
  return monthKey === ar.monthKey ? ar : { ...ar, monthKey, chargedThisMonth: 0, heldBack: ar.heldBack === "monthly_limit_reached" ? null : ar.heldBack };
}

/**
 * Sets auto-recharge (or turns it off). Turning it on again after it was disabled clears the reason;
 * an attempt in flight is left to finish (its outcome still credits or fails as it must).
 */
export function configureRecharge(
  current: AutoRecharge | null,
  enabled: boolean,
  plan: RechargePlan,
  now: number,
  timeZone: string | null,
  card: SavedCard | null = current?.card ?? null,
): AutoRecharge {
  const base: AutoRecharge = current ?? {
    enabled,
    plan,
    card,
    status: "idle",
    disabledReason: null,
    attempts: 0,
    inFlight: null,
    monthKey: periodKeys(now, timeZone).monthKey,
    chargedThisMonth: 0,
    lastAttemptAt: null,
    heldBack: null,
  };
  const status = base.inFlight ? "in_flight" : "idle";
  return { ...thisMonth(base, now, timeZone), enabled, plan, card, status, disabledReason: null, heldBack: null };
}

/**
 * Called by every rule that can lower `available` (debit, capture, expiry, clawback), after its
 * change: marks one charge due when auto-recharge is on, idle, and available is below the threshold.
 */
export function checkRecharge(draft: Draft): void {
  const current = draft.state.autoRecharge;
  if (!current || !current.enabled || current.status !== "idle" || current.card === null) return;
  if (draft.totals().available >= current.plan.threshold) return;
  const ar = thisMonth(current, draft.now, draft.state.settings.timeZone);
  const limit = ar.plan.monthlyLimit;
  if (limit !== null && ar.chargedThisMonth + ar.plan.amount > limit) {
    if (ar.heldBack !== "monthly_limit_reached") draft.state = { ...draft.state, autoRecharge: { ...ar, heldBack: "monthly_limit_reached" } };
    return;
  }
  const attempt: Attempt = { number: ar.attempts + 1, tries: 1, nextTryAt: draft.now, since: draft.now };
  draft.state = { ...draft.state, autoRecharge: { ...ar, status: "in_flight", attempts: attempt.number, inFlight: attempt, lastAttemptAt: draft.now, heldBack: null } };
}

/** The try the alarm must send to Stripe now, if any. */
export function rechargeDue(ar: AutoRecharge | null, now: number): Attempt | null {
  const attempt = ar?.inFlight;
  return attempt && attempt.nextTryAt !== null && attempt.nextTryAt <= now ? attempt : null;
}

/** Stripe accepted the try (a PaymentIntent exists): wait for its outcome, do not send it again. */
export function rechargeSent(state: LedgerState, attempt: number, tries: number): LedgerState {
  const ar = state.autoRecharge;
  if (!ar?.inFlight || ar.inFlight.number !== attempt || ar.inFlight.tries !== tries) return state;
  return { ...state, autoRecharge: { ...ar, inFlight: { ...ar.inFlight, nextTryAt: null } } };
}
