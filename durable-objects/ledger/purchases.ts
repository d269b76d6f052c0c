// What payments do to an account: a purchase adds a lot; a refund or a dispute claws credits back; a
// dispute blocks spending until it closes. Each clawback is keyed ("refund:<purchase>", "dispute:<id>")
// and carries the cumulative total it should reach, so however often, late or out of order Stripe
// delivers its events, the account gives back exactly what the contract's formula says, once.

import { Draft, type Totals } from "./draft";
import { burnOrder, isLive } from "./lots";
import { add, sub } from "./money";
import { MAX_TRIES, RETRY_AFTER_MS, thisMonth } from "./recharge";
import { addLot, afterBalanceChange, checkLowBalance, settleInto, type GrantInput } from "./rules";
import type { EventDraft, LedgerState, Lot, Step } from "./types";

/**
 * The credits a refund or dispute of `refunded` out of `paid` takes back from a purchase of `credits`:
 * ⌊credits × refunded / paid⌋ (API.md), exact for any safe amounts, never more than was bought.
 */
export function clawbackTarget(credits: number, paid: number, refunded: number): number {
  if (paid <= 0 || refunded <= 0) return 0;
  const target = (BigInt(credits) * BigInt(Math.min(refunded, paid))) / BigInt(paid);
  return Number(target);
}

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

export interface ClawbackInput {
  /** What this clawback is for: "refund:<purchase reference>" or "dispute:<dispute id>". */
  key: string;
  /** The total this key should have clawed back once applied (cumulative, from clawbackTarget). */
  target: number;
  /** What this key has clawed back already (kept by the object per key). */
  already: number;
  /** The purchase lot's reference: its credits are taken first. */
  reference: string | null;
  description: string | null;
  metadata: Record<string, unknown> | null;
  /** The event to record when something is clawed back. */
  event: Pick<EventDraft, "type" | "data">;
}

export interface ClawbackResult extends Totals {
  /** Clawed back by this step. */
  clawedBack: number;
  /** What the key has clawed back in all, to be kept for the next delivery. */
  total: number;
  /** The part of this clawback no credit covered. */
  debtAdded: number;
}

/**
 * Takes back what `target` says is still owed: from the purchase's own lot first, then the other lots
 * in burn order (holds do not protect credits that were never paid for), and what no lot holds
 * becomes debt. A target at or below what was already clawed back changes nothing: that is how a
 * repeated or out-of-order refund event is a no-op.
 */
function clawInto(draft: Draft, input: ClawbackInput): ClawbackResult {
  const amount = Math.max(0, input.target - input.already);
  let debtAdded = 0;
  if (amount > 0) {
    const live = draft.state.lots.filter((lot) => isLive(lot, draft.now));
    const own = live.filter((lot) => input.reference !== null && lot.reference === input.reference).sort(burnOrder);
    const others = live.filter((lot) => !own.includes(lot)).sort(burnOrder);
    const changed: Lot[] = [];
    let left = amount;
    for (const lot of [...own, ...others]) {
      if (left === 0) break;
      const take = Math.min(lot.remaining, left);
      if (take === 0) continue;
      changed.push({ ...lot, remaining: sub(lot.remaining, take) });
      left = sub(left, take);
    }
    const byId = new Map(changed.map((lot) => [lot.id, lot]));
    draft.putLots(
      draft.state.lots.map((lot) => byId.get(lot.id) ?? lot),
      changed,
    );
    debtAdded = left;
    draft.state = { ...draft.state, debt: add(draft.state.debt, left) };
    draft.entry("clawback", -amount, {
      lotId: own[0]?.id ?? null,
      description: input.description,
      metadata: { ...input.metadata, clawback: input.key, ...(debtAdded > 0 ? { debt_added: debtAdded } : {}) },
    });
    draft.event(input.event.type, { ...input.event.data, credits_clawed_back: amount, total_clawed_back: input.already + amount });
    afterBalanceChange(draft);
  }
  return { ...draft.totals(), clawedBack: amount, total: input.already + amount, debtAdded };
}

export function clawback(state: LedgerState, input: ClawbackInput, now: number): Step<ClawbackResult> {
  const draft = new Draft(state, now);
  settleInto(draft);
  return draft.done(clawInto(draft, input));
}

export interface BlockInput {
  /** Who sets or lifts it: "admin", or "dispute:<id>". */
  key: string;
  blocked: boolean;
  reason: string;
}

function blockInto(draft: Draft, input: BlockInput): void {
  const blocks = { ...draft.state.blocks };
  if (input.blocked) blocks[input.key] = { reason: input.reason, since: blocks[input.key]?.since ?? draft.now };
  else delete blocks[input.key];
  draft.state = { ...draft.state, blocks };
}

/** Stops or allows spending for one reason; the account stays blocked while any reason remains. */
export function setBlock(state: LedgerState, input: BlockInput, now: number): Step<Totals> {
  const draft = new Draft(state, now);
  settleInto(draft);
  blockInto(draft, input);
  return draft.done(draft.totals());
}

/** A dispute opens: its credits are clawed back and spending is blocked, in one step. */
export function openDispute(state: LedgerState, input: ClawbackInput & { reason: string }, now: number): Step<ClawbackResult> {
  const draft = new Draft(state, now);
  settleInto(draft);
  blockInto(draft, { key: input.key, blocked: true, reason: input.reason });
  return draft.done(clawInto(draft, input));
}

export interface CloseDisputeInput {
  key: string;
  won: boolean;
  /** What the dispute clawed back: granted again when it is won. */
  clawed: number;
  /** The lot that gives the credits back, when won. */
  lot: Omit<GrantInput, "source" | "amount">;
  event: Record<string, unknown>;
}

/**
 * A dispute closes: won gives back what it clawed (a new purchase lot, paying debt first), lost keeps
 * the clawback; either way its block is lifted.
 */
export function closeDispute(state: LedgerState, input: CloseDisputeInput, now: number): Step<Totals & { restored: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const restored = input.won ? input.clawed : 0;
  if (restored > 0) addLot(draft, { ...input.lot, source: "purchase", amount: restored });
  blockInto(draft, { key: input.key, blocked: false, reason: "" });
  draft.event("dispute.closed", { ...input.event, won: input.won, credits_restored: restored });
  afterBalanceChange(draft);
  return draft.done({ ...draft.totals(), restored });
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
  lotId: string;
  credits: number;
  amount: number;
  expiresAt: number | null;
  paymentIntent: string;
}

/**
 * A charge succeeded: its credits, always (charged ⇒ credited, even for an attempt that is no longer
 * the one in flight); the attempt it ends goes back to idle. The caller keys it by the PaymentIntent.
 */
export function rechargeSucceeded(state: LedgerState, input: RechargeSuccess, now: number): Step<Totals & { debtPaid: number }> {
  const draft = new Draft(state, now);
  settleInto(draft);
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
      autoRecharge: { ...ar, chargedThisMonth: ar.chargedThisMonth + input.amount, ...(ends ? { inFlight: null, status: ar.status === "disabled" ? "disabled" : "idle" } : {}) },
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
}

/**
 * A try failed. A decline that may pass is tried again later, up to MAX_TRIES in all; one that needs
 * the card holder, or the last try, disables auto-recharge with the reason until the user turns it on
 * again. A failure of a try that is not the current one changes nothing.
 */
export function rechargeFailed(state: LedgerState, input: RechargeFailure, now: number): Step<{ disabled: boolean; retryAt: number | null }> {
  const draft = new Draft(state, now);
  const ar = draft.state.autoRecharge;
  const current = ar?.inFlight;
  if (!ar || !current || current.number !== input.attempt || current.tries !== input.tries) return draft.done({ disabled: false, retryAt: null });
  draft.event("auto_recharge.failed", { attempt: input.attempt, try: input.tries, code: input.code });
  if (!input.needsAction && current.tries < MAX_TRIES) {
    const retryAt = now + (RETRY_AFTER_MS[current.tries - 1] as number);
    draft.state = { ...draft.state, autoRecharge: { ...ar, inFlight: { ...current, tries: current.tries + 1, nextTryAt: retryAt } } };
    return draft.done({ disabled: false, retryAt });
  }
  const reason = input.needsAction ? "authentication_required" : `declined: ${input.code}`;
  draft.state = { ...draft.state, autoRecharge: { ...ar, status: "disabled", disabledReason: reason, inFlight: null } };
  draft.event("auto_recharge.disabled", { reason, attempt: input.attempt });
  return draft.done({ disabled: true, retryAt: null });
}
