// What refunds and disputes take back from one purchase (API.md, the Stripe webhook contract).
//
// Stripe does not promise the order, number or timing of its events, so the object never applies an
// event as a change. It keeps what it has been told about the purchase's charge (its "facts") and
// merges each new telling into them: the largest cumulative refund, each refund and whether it failed,
// each dispute and the furthest status it reached. The merge is commutative, associative and
// idempotent, so any order or repetition of the same events ends in the same facts. From the facts
// alone follow what the purchase must have given back (its clawback target) and which disputes block
// spending; the object then moves the account to that: claws more back, gives back what it took
// beyond the target, blocks and unblocks.

import { addLot, afterBalanceChange } from "./credit";
import { Draft, type Totals } from "./draft";
import { settleInto } from "./expiry";
import { burnOrder, isLive } from "./lots";
import { add, sub } from "./money";
import type { LedgerState, Lot, Step } from "./types";

/**
 * A dispute's status as far as money goes. Inquiries (Stripe's `warning_*`) take no money; `open`
 * (needs_response, under_review) and `lost` take the disputed amount; `won` and a closed inquiry
 * take nothing. A later status never goes back to an earlier one.
 */
export type DisputeStatus = "inquiry" | "open" | "inquiry_closed" | "won" | "lost";

export const DISPUTE_RANK: Readonly<Record<DisputeStatus, number>> = { inquiry: 0, open: 1, inquiry_closed: 2, won: 3, lost: 4 };

/** Stripe's dispute status as ours; null for one that says nothing about money. */
export function disputeStatus(stripeStatus: string): DisputeStatus | null {
  switch (stripeStatus) {
    case "warning_needs_response":
    case "warning_under_review":
      return "inquiry";
    case "warning_closed":
      return "inquiry_closed";
    case "needs_response":
    case "under_review":
      return "open";
    case "won":
    case "prevented":
      return "won";
    case "lost":
      return "lost";
    default:
      return null;
  }
}

export interface ClaimFacts {
  /**
   * The latest cumulative `amount_refunded` Stripe reported for the charge (money), and when (the
   * event's `created`, Unix seconds). Latest, not largest: Stripe lowers it again when a refund fails,
   * and a refund made after that raises it again.
   */
  refunded: { amount: number; at: number };
  /**
   * Refunds told by their own events (refund.created / updated / failed, charge.refund.updated): the
   * amount, and when it failed if it did (the earliest report of the failure).
   */
  refunds: Record<string, { amount: number; failedAt: number | null }>;
  /** Disputes by id: the disputed amount and the furthest status reached. */
  disputes: Record<string, { amount: number; status: DisputeStatus }>;
  /** The charge's own amount (the refunds' and disputes' share is of this), when an event said it. */
  charge: number | null;
}

export const NO_FACTS: ClaimFacts = { refunded: { amount: 0, at: 0 }, refunds: {}, disputes: {}, charge: null };

const later = (a: ClaimFacts["refunded"], b: ClaimFacts["refunded"]) => (b.at > a.at || (b.at === a.at && b.amount > a.amount) ? b : a);
const earliest = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/** The facts both tellings hold: the order of merging never matters, and merging twice changes nothing. */
export function mergeFacts(a: ClaimFacts, b: ClaimFacts): ClaimFacts {
  const refunds = { ...a.refunds };
  for (const [id, r] of Object.entries(b.refunds)) {
    const known = refunds[id];
    refunds[id] = known ? { amount: Math.max(known.amount, r.amount), failedAt: earliest(known.failedAt, r.failedAt) } : r;
  }
  const disputes = { ...a.disputes };
  for (const [id, d] of Object.entries(b.disputes)) {
    const known = disputes[id];
    disputes[id] = known
      ? { amount: Math.max(known.amount, d.amount), status: DISPUTE_RANK[d.status] > DISPUTE_RANK[known.status] ? d.status : known.status }
      : d;
  }
  const charge = a.charge === null ? b.charge : b.charge === null ? a.charge : Math.max(a.charge, b.charge);
  return { refunded: later(a.refunded, b.refunded), refunds, disputes, charge };
}

/**
 * The money refunded, as the facts say. The latest cumulative figure, less the refunds that failed
 * at or after it was reported (a failure is only reflected in a later figure); or, if more, what the
 * refunds known by id add up to (those not failed). Within 0 … paid.
 */
export function refundedMoney(facts: ClaimFacts, paid: number): number {
  let standing = 0;
  let failedSince = 0;
  for (const r of Object.values(facts.refunds)) {
    if (r.failedAt === null) standing = add(standing, r.amount);
    else if (r.failedAt >= facts.refunded.at) failedSince = add(failedSince, r.amount);
  }
  return Math.min(paid, Math.max(0, standing, facts.refunded.amount - failedSince));
}

/** The money taken by disputes that are open or were lost (inquiries and won disputes take nothing). */
export function disputedMoney(facts: ClaimFacts): number {
  let total = 0;
  for (const d of Object.values(facts.disputes)) if (d.status === "open" || d.status === "lost") total = add(total, d.amount);
  return total;
}

/** What the purchase's charge was: its own amount where Stripe said it, else what was sold. */
export const chargeOf = (facts: ClaimFacts, sold: number) => facts.charge ?? sold;

/**
 * The credits a purchase of `credits` must have given back: ⌊credits × min(charge, refunded +
 * disputed) / charge⌋, with the charge's own amount, so a refund and a dispute of the same charge
 * never take back more than it credited.
 */
export function claimTarget(credits: number, sold: number, facts: ClaimFacts): number {
  const paid = chargeOf(facts, sold);
  if (paid <= 0) return 0;
  const taken = Math.min(paid, refundedMoney(facts, paid) + disputedMoney(facts));
  if (taken <= 0) return 0;
  return Number((BigInt(credits) * BigInt(taken)) / BigInt(paid));
}

/**
 * What an object clawed back before it kept facts (per key, "refund:<purchase>" and "dispute:<id>"),
 * as the record its first telling starts from: what it already knew is not announced again.
 */
export interface LegacyClawbacks {
  refund: number | null;
  disputes: Record<string, number>;
}

export function fromLegacy(legacy: LegacyClawbacks, blocks: Readonly<Record<string, unknown>>, told: ClaimFacts, credits: number, sold: number): PurchaseClaims | null {
  const disputeIds = Object.keys(told.disputes).filter((id) => `dispute:${id}` in blocks || id in legacy.disputes);
  if (legacy.refund === null && disputeIds.length === 0) return null;
  const disputes: ClaimFacts["disputes"] = {};
  for (const id of disputeIds) {
    const d = told.disputes[id] as ClaimFacts["disputes"][string];
    // Still blocking: it was open; clawed back and no longer blocking: it was closed as told now.
    disputes[id] = { amount: d.amount, status: `dispute:${id}` in blocks ? "open" : d.status };
  }
  // The refund it had taken is the one told now if the amounts agree; otherwise the new part is news.
  const knewRefund = legacy.refund !== null && legacy.refund === claimTarget(credits, sold, { ...NO_FACTS, refunded: told.refunded, charge: told.charge });
  const facts: ClaimFacts = { ...NO_FACTS, refunded: knewRefund ? told.refunded : NO_FACTS.refunded, disputes, charge: told.charge };
  let clawed = legacy.refund ?? 0;
  for (const amount of Object.values(legacy.disputes)) clawed = add(clawed, amount);
  return { facts, clawed, version: 0 };
}

export type PurchaseStatus = "paid" | "refunded" | "partially_refunded" | "disputed";

/** How the purchase reads to its buyer: a dispute open or lost says disputed, then refunds. */
export function purchaseStatus(facts: ClaimFacts, sold: number): PurchaseStatus {
  for (const d of Object.values(facts.disputes)) if (d.status === "open" || d.status === "lost") return "disputed";
  const paid = chargeOf(facts, sold);
  const refunded = refundedMoney(facts, paid);
  if (refunded > 0 && refunded >= paid) return "refunded";
  return refunded > 0 ? "partially_refunded" : "paid";
}

/** What the object keeps per purchase: the facts so far, what it has clawed back, and a version. */
export interface PurchaseClaims {
  facts: ClaimFacts;
  clawed: number;
  /** Grows with every change of the facts, so copies elsewhere (D1's purchases row) keep the newest. */
  version: number;
}

export interface ClaimsInput {
  /** The purchase: its lot's reference (the checkout session or the auto-recharge's PaymentIntent). */
  reference: string;
  credits: number;
  /** What was sold (money): the share taken is of the charge's own amount when the facts have it. */
  paid: number;
  currency: string;
  /** What the caller knows now (any subset of all that was ever told). */
  facts: ClaimFacts;
  /** What the object kept for this purchase, or null the first time. */
  current: PurchaseClaims | null;
  /** The lot that gives credits back when the target falls (a won dispute, a failed refund). */
  restoreLot: { lotId: string; expiresAt: number | null; priority: number };
}

export interface ClaimsResult extends Totals {
  claims: PurchaseClaims;
  status: PurchaseStatus;
  refunded: number;
  /** Credits taken (positive) or given back (negative) by this step. */
  moved: number;
  debtAdded: number;
}

const disputeKey = (id: string) => `dispute:${id}`;

/**
 * Takes `amount` back: from the purchase's own lot first, then the other live lots in burn order
 * (holds do not protect credits that were never paid for); what no lot holds becomes debt.
 */
function takeBack(draft: Draft, input: ClaimsInput, amount: number, target: number): number {
  const live = draft.state.lots.filter((lot) => isLive(lot, draft.now));
  const own = live.filter((lot) => lot.reference === input.reference).sort(burnOrder);
  const others = live.filter((lot) => lot.reference !== input.reference).sort(burnOrder);
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
  draft.state = { ...draft.state, debt: add(draft.state.debt, left) };
  draft.entry("clawback", -amount, {
    lotId: own[0]?.id ?? null,
    description: "Credits taken back: the payment was refunded or disputed",
    metadata: { purchase: input.reference, clawed_back_total: target, ...(left > 0 ? { debt_added: left } : {}) },
  });
  return left;
}

/** Gives back what was taken beyond the target, as a lot of the purchase (paying any debt first). */
function giveBack(draft: Draft, input: ClaimsInput, amount: number, target: number): void {
  addLot(
    draft,
    {
      ...input.restoreLot,
      amount,
      source: "purchase",
      reference: input.reference,
      description: "Credits given back: a dispute was won or a refund failed",
      metadata: { purchase: input.reference, clawed_back_total: target },
    },
    "restore",
  );
}

/**
 * Merges what the caller knows into what the object kept, and moves the account to what the merged
 * facts say: credits taken or given back to reach the target, a block for each dispute that became
 * open and none for one that closed. Blocks follow changes of status only, so an operator who lifted a
 * dispute's block is not overruled by the same dispute told again.
 */
export function applyClaims(state: LedgerState, input: ClaimsInput, now: number): Step<ClaimsResult> {
  const draft = new Draft(state, now);
  settleInto(draft);
  const before = input.current ?? { facts: NO_FACTS, clawed: 0, version: 0 };
  const facts = mergeFacts(before.facts, input.facts);
  const target = claimTarget(input.credits, input.paid, facts);
  const moved = target - before.clawed;
  let debtAdded = 0;
  if (moved > 0) debtAdded = takeBack(draft, input, moved, target);
  if (moved < 0) giveBack(draft, input, -moved, target);

  const refunded = refundedMoney(facts, chargeOf(facts, input.paid));
  if (refunded > refundedMoney(before.facts, chargeOf(before.facts, input.paid))) {
    draft.event("purchase.refunded", { purchase_id: input.reference, amount_refunded: refunded, currency: input.currency, credits_clawed_back: target });
  }
  const blocks = { ...draft.state.blocks };
  let blocksChanged = false;
  for (const [id, d] of Object.entries(facts.disputes)) {
    const was = before.facts.disputes[id]?.status ?? null;
    if (was === d.status) continue;
    const data = { purchase_id: input.reference, dispute_id: id, amount: d.amount, currency: input.currency };
    if (d.status === "open") {
      blocks[disputeKey(id)] = { reason: "a payment dispute is open", since: now };
      blocksChanged = true;
      draft.event("dispute.opened", { ...data, credits_clawed_back: target });
      continue;
    }
    // Whatever ends an open dispute ends its block (an inquiry never had one).
    if (disputeKey(id) in blocks) {
      delete blocks[disputeKey(id)];
      blocksChanged = true;
    }
    if (d.status === "won" || d.status === "lost") draft.event("dispute.closed", { ...data, won: d.status === "won", credits_clawed_back: target });
  }
  // A new object only when the blocks changed: the object tells a change of the row by identity.
  if (blocksChanged) draft.state = { ...draft.state, blocks };
  if (moved !== 0) afterBalanceChange(draft);
  const changed = JSON.stringify(facts) !== JSON.stringify(before.facts) || moved !== 0;
  const claims: PurchaseClaims = { facts, clawed: target, version: before.version + (changed ? 1 : 0) };
  return draft.done({ ...draft.totals(), claims, status: purchaseStatus(facts, input.paid), refunded, moved, debtAdded });
}
