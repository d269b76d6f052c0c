// What payments do to an account: a purchase adds a lot, an operator blocks or allows spending, and an
// auto-recharge charge succeeds or fails. Refunds and disputes are claims.ts.

import { Draft, type Totals } from "./draft";
import { isCurrentCharge, MAX_TRIES, RETRY_AFTER_MS, sentCharge, thisMonth, type AutoRecharge } from "./recharge";
import { addLot, afterBalanceChange, settleInto, type GrantInput } from "./rules";
import type { LedgerState, Step } from "./types";

export interface PurchaseInput extends Omit<GrantInput, "source"> {
  /** What `purchase.completed` tells the operator (package, amount, currency, Stripe ids). */
  event: Record<string, unknown>;
}

/** A paid purchase: a `purchase` lot (paying any debt first) and `purchase.completed`. */
export function purchase(state: LedgerState, input: PurchaseInput, now: number): Step<Totals & { lotId: string; debtPaid: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  // A purchase is paid for: it is credited even if its expiry is already past (it then expires at once).
  const debtPaid = addLot(draft, { ...input, source: "purchase" });
  draft.event("purchase.completed", { ...input.event, lot_id: input.lotId, credits: input.amount, debt_paid: debtPaid });
  afterBalanceChange(draft);
  return draft.done({ ...draft.totals(), lotId: input.lotId, debtPaid });
}

export interface AdminBlockInput {
  blocked: boolean;
  reason: string;
}

/**
 * An operator stops or allows spending by hand. Allowing lifts every block, a dispute's included (the
 * operator may know the dispute is settled before Stripe says so); either change is written to the
 * journal (amount 0) with what was lifted and why, so the history shows who allowed what.
 */
export function setAdminBlock(state: LedgerState, input: AdminBlockInput, now: number): Step<Totals> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const blocks = draft.state.blocks;
  if (input.blocked) {
    if (!blocks.admin || blocks.admin.reason !== input.reason) {
      draft.state = { ...draft.state, blocks: { ...blocks, admin: { reason: input.reason, since: blocks.admin?.since ?? now } } };
      draft.entry("block", 0, { description: `Spending blocked: ${input.reason}`, metadata: { by: "admin", reason: input.reason } });
    }
    return draft.done(draft.totals());
  }
  const lifted = Object.entries(blocks).map(([key, b]) => ({ key, reason: b.reason, since: new Date(b.since).toISOString() }));
  if (lifted.length > 0) {
    draft.state = { ...draft.state, blocks: {} };
    draft.entry("unblock", 0, { description: `Spending allowed again: ${input.reason}`, metadata: { by: "admin", reason: input.reason, lifted } });
  }
  return draft.done(draft.totals());
}

export const DEFAULT_PURCHASE_EXPIRY_DAYS = 365;

/** PURCHASE_EXPIRY_DAYS as configured: unset means 365; 0 means purchased credits never expire. */
export function parsePurchaseExpiryDays(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_PURCHASE_EXPIRY_DAYS;
  if (!/^\s*\d{1,5}\s*$/.test(value)) {
    throw new Error(`PURCHASE_EXPIRY_DAYS must be a whole number of days (0 = never expire), got '${value}'.`);
  }
  return Number(value);
}

/** When credits bought at `now` expire: null when the deployment keeps them forever. */
export function purchaseExpiry(now: number, days: number): number | null {
  return days === 0 ? null : now + days * 24 * 3600 * 1000;
}

// ---- auto-recharge outcomes (recharge.ts holds the trigger and the attempt state) ----------------------

export interface RechargeSuccess {
  attempt: number;
  /** The charge's own reference, from its metadata (absent on charges sent before references). */
  ref: string | null;
  lotId: string;
  /** What the PaymentIntent says: trusted only for a charge sent before references were kept. */
  credits: number;
  amount: number;
  currency: string;
  expiresAt: number | null;
  paymentIntent: string;
}

/**
 * What a successful PaymentIntent credits: the credits this account recorded when it sent the charge,
 * if it sent it, for that amount and currency, and has not credited it yet. null: nothing (another
 * deployment's charge on a shared Stripe account, a forged one, or a second PaymentIntent for one charge).
 */
function creditFor(ar: AutoRecharge | null, input: RechargeSuccess): number | null {
  if (!ar) return null;
  if (input.ref === null) return isCurrentCharge(ar, input.attempt, null) ? input.credits : null;
  const sent = sentCharge(ar, input.ref);
  if (!sent || sent.credited || sent.attempt !== input.attempt) return null;
  if (sent.amount !== input.amount || sent.currency !== input.currency.toLowerCase()) return null;
  return sent.credits;
}

/**
 * A charge succeeded: its credits, always (charged ⇒ credited, even for an attempt that is no longer
 * the one in flight); the attempt it ends goes back to idle. The caller keys it by the PaymentIntent.
 */
export function rechargeSucceeded(state: LedgerState, input: RechargeSuccess, now: number): Step<Totals & { debtPaid: number; credits: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const credits = creditFor(draft.state.autoRecharge, input);
  if (credits === null) {
    return draft.refuse({ type: "unknown_charge", message: `This account never sent auto-recharge charge ${input.ref ?? input.attempt} (${input.paymentIntent}) for this amount, or already credited it.`, details: { payment_intent: input.paymentIntent } });
  }
  const debtPaid = addLot(draft, {
    lotId: input.lotId,
    amount: credits,
    source: "auto_recharge",
    expiresAt: input.expiresAt,
    priority: 0,
    reference: input.paymentIntent,
    description: "Auto-recharge",
    metadata: { payment_intent: input.paymentIntent, attempt: input.attempt },
  });
  const current = draft.state.autoRecharge as AutoRecharge;
  const ar = thisMonth(current, now, draft.state.settings.timeZone);
  const ends = ar.inFlight?.number === input.attempt;
  const sent = ar.sent?.map((c) => (c.ref === input.ref ? { ...c, credited: true } : c));
  draft.state = {
    ...draft.state,
    autoRecharge: {
      ...ar,
      chargedThisMonth: ar.chargedThisMonth + input.amount,
      ...(sent ? { sent } : {}),
      ...(ends ? { inFlight: null, status: ar.status === "disabled" ? "disabled" : "idle" } : {}),
    },
  };
  draft.event("auto_recharge.succeeded", { attempt: input.attempt, credits, amount: input.amount, payment_intent: input.paymentIntent, debt_paid: debtPaid });
  afterBalanceChange(draft);
  return draft.done({ ...draft.totals(), debtPaid, credits });
}

export interface RechargeFailure {
  attempt: number;
  tries: number;
  /** The charge's reference (null: a charge sent before references, or the alarm's own answer without one). */
  ref: string | null;
  /** Stripe's decline or error code. */
  code: string;
  /** The card needs its holder (3-D Secure): no off-session retry can succeed. */
  needsAction: boolean;
  /** Stripe refused the request itself (a detached card, `resource_missing`): no retry can succeed. */
  permanent?: boolean;
}

/**
 * A try failed. A decline that may pass is tried again later, up to MAX_TRIES in all (and each retry is
 * sent only if recharge.ts still allows it then); one that needs the card holder, one Stripe refused
 * outright, or the last try, disables auto-recharge with the reason until the user turns it on again.
 * A failure of a try that is not the current one changes nothing.
 */
export function rechargeFailed(state: LedgerState, input: RechargeFailure, now: number): Step<{ disabled: boolean; retryAt: number | null }> {
  const draft = new Draft(state, now);
  const ar = draft.state.autoRecharge;
  const current = ar?.inFlight;
  // Only the try in flight, named by its own reference: another deployment's failure changes nothing.
  if (!ar || !current || !isCurrentCharge(ar, input.attempt, input.ref) || current.tries !== input.tries) return draft.done({ disabled: false, retryAt: null });
  draft.event("auto_recharge.failed", { attempt: input.attempt, try: input.tries, code: input.code });
  // A retry is scheduled only while auto-recharge is on: a try that fails after it was turned off ends.
  if (ar.enabled && !input.needsAction && !input.permanent && current.tries < MAX_TRIES) {
    const retryAt = now + (RETRY_AFTER_MS[current.tries - 1] as number);
    draft.state = { ...draft.state, autoRecharge: { ...ar, inFlight: { ...current, tries: current.tries + 1, nextTryAt: retryAt } } };
    return draft.done({ disabled: false, retryAt });
  }
  if (!ar.enabled) {
    draft.state = { ...draft.state, autoRecharge: { ...ar, status: "idle", inFlight: null } };
    return draft.done({ disabled: false, retryAt: null });
  }
  const reason = input.needsAction ? "authentication_required" : input.permanent ? `card_unusable: ${input.code}` : `declined: ${input.code}`;
  draft.state = { ...draft.state, autoRecharge: { ...ar, status: "disabled", disabledReason: reason, inFlight: null } };
  draft.event("auto_recharge.disabled", { reason, attempt: input.attempt });
  return draft.done({ disabled: true, retryAt: null });
}

