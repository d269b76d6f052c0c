// What payments do to an account: a purchase adds a lot, an operator blocks or allows spending, and an
// auto-recharge charge succeeds or fails. Refunds and disputes are claims.ts.

import { Draft, type Totals } from "./draft";
import { MAX_TRIES, retire, RETRY_AFTER_MS, thisMonth } from "./recharge";
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
  credits: number;
  amount: number;
  expiresAt: number | null;
  paymentIntent: string;
}

/** Whether this object sent the charge: its reference is one it made, or (older charges) its attempt number is. */
function sentHere(state: LedgerState, input: Pick<RechargeSuccess, "attempt" | "ref">): boolean {
  const ar = state.autoRecharge;
  if (!ar || input.attempt < 1 || input.attempt > ar.attempts) return false;
  if (input.ref === null) return true;
  return ar.inFlight?.terms?.ref === input.ref || (ar.sentRefs ?? []).includes(input.ref);
}

/**
 * A charge succeeded: its credits, always (charged ⇒ credited, even for an attempt that is no longer
 * the one in flight); the attempt it ends goes back to idle. The caller keys it by the PaymentIntent.
 * A charge this object never sent (another deployment's, on a shared Stripe account) credits nothing.
 */
export function rechargeSucceeded(state: LedgerState, input: RechargeSuccess, now: number): Step<Totals & { debtPaid: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  if (!sentHere(draft.state, input)) {
    return draft.refuse({ type: "unknown_charge", message: `This account never sent auto-recharge attempt ${input.attempt} (${input.paymentIntent}).`, details: { payment_intent: input.paymentIntent } });
  }
  const debtPaid = addLot(draft, {
    lotId: input.lotId,
    amount: input.credits,
    source: "auto_recharge",
    expiresAt: input.expiresAt,
    priority: 0,
    reference: input.paymentIntent,
    description: "Auto-recharge",
    metadata: { payment_intent: input.paymentIntent, attempt: input.attempt },
  });
  const current = draft.state.autoRecharge;
  if (current) {
    const ar = thisMonth(current, now, draft.state.settings.timeZone);
    const ends = ar.inFlight?.number === input.attempt;
    draft.state = {
      ...draft.state,
      autoRecharge: { ...ar, chargedThisMonth: ar.chargedThisMonth + input.amount, ...(ends ? { inFlight: null, status: ar.status === "disabled" ? "disabled" : "idle", sentRefs: retire(ar) } : {}) },
    };
  }
  draft.event("auto_recharge.succeeded", { attempt: input.attempt, credits: input.credits, amount: input.amount, payment_intent: input.paymentIntent, debt_paid: debtPaid });
  afterBalanceChange(draft);
  return draft.done({ ...draft.totals(), debtPaid });
}

export interface RechargeFailure {
  attempt: number;
  tries: number;
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
  if (!ar || !current || current.number !== input.attempt || current.tries !== input.tries) return draft.done({ disabled: false, retryAt: null });
  draft.event("auto_recharge.failed", { attempt: input.attempt, try: input.tries, code: input.code });
  if (!input.needsAction && !input.permanent && current.tries < MAX_TRIES) {
    const retryAt = now + (RETRY_AFTER_MS[current.tries - 1] as number);
    draft.state = { ...draft.state, autoRecharge: { ...ar, inFlight: { ...current, tries: current.tries + 1, nextTryAt: retryAt } } };
    return draft.done({ disabled: false, retryAt });
  }
  const reason = input.needsAction ? "authentication_required" : input.permanent ? `card_unusable: ${input.code}` : `declined: ${input.code}`;
  draft.state = { ...draft.state, autoRecharge: { ...ar, status: "disabled", disabledReason: reason, inFlight: null, sentRefs: retire(ar) } };
  draft.event("auto_recharge.disabled", { reason, attempt: input.attempt });
  return draft.done({ disabled: true, retryAt: null });
}

