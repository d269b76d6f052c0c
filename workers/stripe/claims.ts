// Refunds and disputes (API.md, the Stripe webhook contract). Each event is first written to D1 as a
// fact about its charge (the latest cumulative refund Stripe reported, each refund and when it failed,
// a dispute's furthest status), each write only ever moving forward. Then, if the purchase has landed, every fact D1 holds
// for the charge goes to the account's object, which merges them with what it was told before and
// moves the account to what they say (durable-objects/ledger/claims.ts). A writer that reads after
// its own write sees every fact written before it, so whatever the order or concurrency of events the
// object ends up told everything; a refund or dispute that comes before its purchase waits in D1 and
// goes with the purchase when it lands.

import type Stripe from "stripe";
import { DISPUTE_RANK, disputeStatus, NO_FACTS, type ClaimFacts, type DisputeStatus } from "../../durable-objects/ledger/claims";
import { ledgerOf } from "../api/ledger";
import type { Env } from "../env";
import { expectApplied, idOf, type Outcome } from "./applied";

interface PurchaseRow {
  id: string;
  account_id: string;
  credits: number;
  amount: number;
  currency: string;
}

/** The kept status's rank in SQL, from the same table as the object's: a status only ever moves forward. */
const KEPT_RANK = `CASE stripe_disputes.status ${Object.entries(DISPUTE_RANK).map(([s, r]) => `WHEN '${s}' THEN ${r}`).join(" ")} ELSE -1 END`;
const isStatus = (s: string): s is DisputeStatus => Object.hasOwn(DISPUTE_RANK, s);

/** charge.refunded: Stripe's cumulative figure as of `at` (the event's created); the latest report wins. */
export async function refunded(env: Env, charge: Stripe.Charge, now: number, at: number): Promise<Outcome> {
  const paymentIntent = idOf(charge.payment_intent);
  if (!paymentIntent) return "ignored: no payment intent";
  await env.DB.prepare(
    `INSERT INTO pending_refunds (payment_intent, amount, amount_refunded, reported_at, received_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
     ON CONFLICT (payment_intent) DO UPDATE SET amount = max(pending_refunds.amount, excluded.amount),
       amount_refunded = CASE WHEN excluded.reported_at > pending_refunds.reported_at
         OR (excluded.reported_at = pending_refunds.reported_at AND excluded.amount_refunded > pending_refunds.amount_refunded)
         THEN excluded.amount_refunded ELSE pending_refunds.amount_refunded END,
       reported_at = max(pending_refunds.reported_at, excluded.reported_at), updated_at = excluded.updated_at`,
  )
    .bind(paymentIntent, charge.amount, charge.amount_refunded, at, now)
    .run();
  return syncClaims(env, paymentIntent, now);
}

/**
 * A refund's own event (refund.created, refund.updated, refund.failed, charge.refund.updated): the
 * refund by id, and when it failed if it did (a failed refund gives its credits back).
 */
export async function refundUpdated(env: Env, refund: Stripe.Refund, now: number, at: number): Promise<Outcome> {
  const paymentIntent = idOf(refund.payment_intent);
  if (!paymentIntent) return "ignored: no payment intent";
  const failedAt = refund.status === "failed" || refund.status === "canceled" ? at : null;
  await env.DB.prepare(
    `INSERT INTO stripe_refunds (id, payment_intent, amount, failed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (id) DO UPDATE SET amount = max(stripe_refunds.amount, excluded.amount),
       failed_at = CASE WHEN stripe_refunds.failed_at IS NULL THEN excluded.failed_at
         WHEN excluded.failed_at IS NULL THEN stripe_refunds.failed_at ELSE min(stripe_refunds.failed_at, excluded.failed_at) END,
       updated_at = excluded.updated_at`,
  )
    .bind(refund.id, paymentIntent, refund.amount, failedAt, now)
    .run();
  return syncClaims(env, paymentIntent, now);
}

/** Any event about a dispute (created, updated, funds withdrawn or reinstated, closed): its status as it is now. */
export async function disputeSeen(env: Env, dispute: Stripe.Dispute, now: number): Promise<Outcome> {
  const paymentIntent = idOf(dispute.payment_intent);
  if (!paymentIntent) return "ignored: no payment intent";
  const status = disputeStatus(dispute.status);
  if (status === null) return `ignored: dispute status ${dispute.status}`;
  await env.DB.prepare(
    `INSERT INTO stripe_disputes (id, payment_intent, amount, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
     ON CONFLICT (id) DO UPDATE SET amount = max(stripe_disputes.amount, excluded.amount),
       status = CASE WHEN ?6 > ${KEPT_RANK} THEN excluded.status ELSE stripe_disputes.status END,
       updated_at = excluded.updated_at`,
  )
    .bind(dispute.id, paymentIntent, dispute.amount, status, now, DISPUTE_RANK[status])
    .run();
  return syncClaims(env, paymentIntent, now);
}

/** Every fact D1 holds about a charge's refunds and disputes. */
async function factsOf(env: Env, paymentIntent: string): Promise<ClaimFacts> {
  const [cumulative, refunds, disputes] = await env.DB.batch([
    env.DB.prepare("SELECT amount, amount_refunded, reported_at FROM pending_refunds WHERE payment_intent = ?").bind(paymentIntent),
    env.DB.prepare("SELECT id, amount, failed_at FROM stripe_refunds WHERE payment_intent = ?").bind(paymentIntent),
    env.DB.prepare("SELECT id, amount, status FROM stripe_disputes WHERE payment_intent = ?").bind(paymentIntent),
  ]);
  const facts: ClaimFacts = { ...NO_FACTS, refunds: {}, disputes: {} };
  const reported = cumulative?.results[0] as { amount: number; amount_refunded: number; reported_at: number } | undefined;
  if (reported) facts.refunded = { amount: reported.amount_refunded, at: reported.reported_at };
  if (reported) facts.charge = reported.amount;
  for (const r of (refunds?.results ?? []) as { id: string; amount: number; failed_at: number | null }[]) facts.refunds[r.id] = { amount: r.amount, failedAt: r.failed_at };
  for (const d of (disputes?.results ?? []) as { id: string; amount: number; status: string }[]) {
    if (isStatus(d.status)) facts.disputes[d.id] = { amount: d.amount, status: d.status };
  }
  return facts;
}

/**
 * Tells the purchase's account every fact D1 holds about its charge, and copies the outcome to the
 * purchases row (a newer version only: concurrent calls may finish in any order).
 */
export async function syncClaims(env: Env, paymentIntent: string, now: number): Promise<Outcome> {
  const purchase = await env.DB.prepare("SELECT id, account_id, credits, amount, currency FROM purchases WHERE payment_intent = ? AND lot_id IS NOT NULL")
    .bind(paymentIntent)
    .first<PurchaseRow>();
  if (!purchase) return "kept_until_purchase";
  const facts = await factsOf(env, paymentIntent);
  const reply = await ledgerOf(env, purchase.account_id).applyClaims({
    reference: purchase.id,
    credits: purchase.credits,
    paid: purchase.amount,
    currency: purchase.currency,
    facts,
  });
  const r = expectApplied(reply, `refunds and disputes of ${paymentIntent}`) as {
    credits_clawed_back: number;
    version: number;
    status: string;
    amount_refunded: number;
    moved: number;
  };
  await env.DB.prepare(
    `UPDATE purchases SET status = ?2, amount_refunded = ?3, credits_clawed_back = ?4, claims_version = ?5, updated_at = ?6
     WHERE id = ?1 AND claims_version < ?5`,
  )
    .bind(purchase.id, r.status, r.amount_refunded, r.credits_clawed_back, r.version, now)
    .run();
  return r.moved > 0 ? `clawed_back: ${r.moved}` : r.moved < 0 ? `given_back: ${-r.moved}` : `applied: ${r.status}`;
}
