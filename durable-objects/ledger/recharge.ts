// Auto-recharge as pure rules (issue 10). The debit or capture that takes `available` below the
// threshold marks one charge as due in its own transaction; the object's alarm then asks Stripe for an
// off-session PaymentIntent under a key fixed by (attempt, try), so a crashed alarm retried later
// cannot charge twice; credits land only when Stripe says the payment succeeded (the webhook, or the
// cron's charged ⇒ credited pass). At most one attempt is in flight; money charged is capped per
// calendar month of the account.

import { nextBoundary } from "./calendar";
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
  /** When Stripe created the payment that saved it (ms): the latest save wins, whatever order events come in. */
  savedAt: number;
}

/** The card to keep of two: the one saved last (a card known before `savedAt` existed counts as oldest). */
export function newerCard(kept: SavedCard | null, offered: SavedCard | null | undefined): SavedCard | null {
  if (offered === undefined) return kept;
  if (offered === null || kept === null) return offered;
  return (offered.savedAt ?? 0) >= (kept.savedAt ?? 0) ? offered : kept;
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
  /** When a charge held back by the monthly limit may go (the next month's start): the alarm wakes then. */
  heldBackUntil?: number | null;
}

/** The Stripe idempotency key of a try: the same try never makes a second PaymentIntent. */
export const rechargeKey = (accountId: string, attempt: Attempt) => `auto_recharge:${accountId}:${attempt.number}:${attempt.tries}`;

export function thisMonth(ar: AutoRecharge, now: number, timeZone: string | null): AutoRecharge {
  const { monthKey } = periodKeys(now, timeZone);
  if (monthKey === ar.monthKey) return ar;
  const heldBack = ar.heldBack === "monthly_limit_reached" ? null : ar.heldBack;
  return { ...ar, monthKey, chargedThisMonth: 0, heldBack, heldBackUntil: null };
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
  offeredCard?: SavedCard | null,
): AutoRecharge {
  const card = newerCard(current?.card ?? null, offeredCard);
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
  return { ...thisMonth(base, now, timeZone), enabled, plan, card, status, disabledReason: null, heldBack: null, heldBackUntil: null };
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
    if (ar.heldBack !== "monthly_limit_reached") {
      const heldBackUntil = nextBoundary(draft.now, "month", draft.state.settings.timeZone);
      draft.state = { ...draft.state, autoRecharge: { ...ar, heldBack: "monthly_limit_reached", heldBackUntil } };
    }
    return;
  }
  const attempt: Attempt = { number: ar.attempts + 1, tries: 1, nextTryAt: draft.now, since: draft.now };
  draft.state = {
    ...draft.state,
    autoRecharge: { ...ar, status: "in_flight", attempts: attempt.number, inFlight: attempt, lastAttemptAt: draft.now, heldBack: null, heldBackUntil: null },
  };
}

/** When a charge held back by the monthly limit may go: the object must wake then, even if nobody spends. */
export function rechargeResumesAt(ar: AutoRecharge | null): number | null {
  return ar?.enabled && ar.heldBack === "monthly_limit_reached" ? (ar.heldBackUntil ?? null) : null;
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
