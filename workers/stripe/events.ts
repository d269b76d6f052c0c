// Checkout purchases, refunds and disputes (API.md, "The Stripe webhook contract"). Credits move only
// in the account's object, each change under an idempotency key derived from the Stripe object it is
// about (the checkout session for a credit; the payment intent and its cumulative refunded amount for
// a refund; the dispute for a dispute), so two deliveries, or two different events about the same
// payment, can never credit or claw back twice. D1 keeps what Stripe said, to find the account of a
// payment and to keep a refund or dispute that arrives before its purchase.

import type Stripe from "stripe";
import { clawbackTarget } from "../../durable-objects/ledger/purchases";
import { ledgerOf } from "../api/ledger";
import type { Env } from "../env";
import { expectApplied, idOf, key, type Outcome } from "./applied";

interface PurchaseRow {
  id: string;
  account_id: string;
  package_id: string;
  credits: number;
  amount: number;
  currency: string;
  status: string;
  amount_refunded: number;
  payment_intent: string | null;
}

/** What a checkout session says was bought; null when it is not one of ours. */
function boughtWith(session: Stripe.Checkout.Session) {
  const accountId = session.client_reference_id;
  const credits = Number(session.metadata?.credits);
  const packageId = session.metadata?.package_id;
  if (!accountId || !packageId || !Number.isSafeInteger(credits) || credits < 1) return null;
  return {
    id: session.id,
    accountId,
    packageId,
    credits,
    amount: session.amount_total ?? 0,
    currency: session.currency ?? "usd",
    paymentIntent: idOf(session.payment_intent),
    customer: idOf(session.customer),
  };
}

async function upsertPurchase(env: Env, session: Stripe.Checkout.Session, status: "paid" | "pending" | "failed", now: number): Promise<ReturnType<typeof boughtWith>> {
  const bought = boughtWith(session);
  if (!bought) return null;
  // A paid purchase never goes back to pending or failed, whatever order the events come in.
  await env.DB.prepare(
    `INSERT INTO purchases (id, account_id, package_id, credits, amount, currency, status, payment_intent, customer, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
     ON CONFLICT (id) DO UPDATE SET
       amount = excluded.amount, currency = excluded.currency,
       payment_intent = coalesce(excluded.payment_intent, purchases.payment_intent),
       customer = coalesce(excluded.customer, purchases.customer),
       status = CASE WHEN purchases.status IN ('pending', 'failed') THEN excluded.status ELSE purchases.status END,
       updated_at = excluded.updated_at`,
  )
    .bind(bought.id, bought.accountId, bought.packageId, bought.credits, bought.amount, bought.currency, status, bought.paymentIntent, bought.customer, now)
    .run();
  return bought;
}

export async function credit(env: Env, session: Stripe.Checkout.Session, now: number): Promise<Outcome> {
  const bought = await upsertPurchase(env, session, "paid", now);
  if (!bought) return "ignored: not a Credence checkout (no client_reference_id or metadata)";
  const reply = await ledgerOf(env, bought.accountId).creditPurchase(key(`stripe:purchase:${bought.id}`), {
    reference: bought.id,
    credits: bought.credits,
    description: `Purchase of ${bought.packageId}`,
    metadata: { package_id: bought.packageId, checkout_session: bought.id, payment_intent: bought.paymentIntent },
    event: {
      purchase_id: bought.id,
      package_id: bought.packageId,
      amount: bought.amount,
      currency: bought.currency,
      payment_intent: bought.paymentIntent,
    },
  });
  if (reply.status === 404) {
    console.error(`stripe: paid checkout ${bought.id} names an unknown account '${bought.accountId}'`);
    return "unapplied: account_not_found";
  }
  const credited = expectApplied(reply, `crediting ${bought.id}`);
  await env.DB.prepare("UPDATE purchases SET lot_id = ?2, updated_at = ?3 WHERE id = ?1").bind(bought.id, credited.lot_id as string, now).run();
  // A refund or a dispute that came first is applied now that its purchase is here.
  if (bought.paymentIntent) await applyLateClaims(env, bought.paymentIntent, now);
  return "credited";
}

export async function recordUnpaid(env: Env, session: Stripe.Checkout.Session, now: number): Promise<Outcome> {
  return (await upsertPurchase(env, session, "pending", now)) ? "awaiting_payment" : "ignored";
}

export async function failed(env: Env, session: Stripe.Checkout.Session, now: number): Promise<Outcome> {
  return (await upsertPurchase(env, session, "failed", now)) ? "payment_failed" : "ignored";
}

async function purchaseOf(env: Env, paymentIntent: string): Promise<PurchaseRow | null> {
  return env.DB.prepare("SELECT * FROM purchases WHERE payment_intent = ? AND lot_id IS NOT NULL").bind(paymentIntent).first<PurchaseRow>();
}

/** Refunds and disputes recorded before their purchase landed. */
export async function applyLateClaims(env: Env, paymentIntent: string, now: number): Promise<void> {
  const refund = await env.DB.prepare("SELECT amount, amount_refunded FROM pending_refunds WHERE payment_intent = ?")
    .bind(paymentIntent)
    .first<{ amount: number; amount_refunded: number }>();
  if (refund) await applyRefund(env, paymentIntent, refund.amount, refund.amount_refunded, now);
  const disputes = await env.DB.prepare("SELECT id, amount, status FROM stripe_disputes WHERE payment_intent = ? AND status = 'open'")
    .bind(paymentIntent)
    .all<{ id: string; amount: number }>();
  for (const d of disputes.results) await applyDispute(env, paymentIntent, d.id, d.amount, now);
}

export async function refunded(env: Env, charge: Stripe.Charge, now: number): Promise<Outcome> {
  const paymentIntent = idOf(charge.payment_intent);
  if (!paymentIntent) return "ignored: no payment intent";
  // Kept first, so a purchase landing at this moment finds it (it looks after crediting); the largest
  // cumulative figure wins, whatever order refunds arrive in.
  await env.DB.prepare(
    `INSERT INTO pending_refunds (payment_intent, amount, amount_refunded, received_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
     ON CONFLICT (payment_intent) DO UPDATE SET amount = excluded.amount,
       amount_refunded = max(pending_refunds.amount_refunded, excluded.amount_refunded), updated_at = excluded.updated_at`,
  )
    .bind(paymentIntent, charge.amount, charge.amount_refunded, now)
    .run();
  return (await applyRefund(env, paymentIntent, charge.amount, charge.amount_refunded, now)) ? "clawed_back" : "kept_until_purchase";
}

/** Claws back what a cumulative refund says; false when the purchase has not landed yet. */
async function applyRefund(env: Env, paymentIntent: string, amount: number, amountRefunded: number, now: number): Promise<boolean> {
  const purchase = await purchaseOf(env, paymentIntent);
  if (!purchase) return false;
  const target = clawbackTarget(purchase.credits, amount, amountRefunded);
  const reply = await ledgerOf(env, purchase.account_id).clawBack(key(`stripe:refund:${paymentIntent}:${amountRefunded}`), {
    key: `refund:${purchase.id}`,
    target,
    reference: purchase.id,
    description: `Refund of ${purchase.package_id}`,
    metadata: { checkout_session: purchase.id, payment_intent: paymentIntent, amount_refunded: amountRefunded },
    event: { type: "purchase.refunded", data: { purchase_id: purchase.id, amount_refunded: amountRefunded, currency: purchase.currency } },
  });
  expectApplied(reply, `refund of ${paymentIntent}`);
  await env.DB.batch([
    env.DB.prepare(
      `UPDATE purchases SET amount_refunded = max(amount_refunded, ?2),
         status = CASE WHEN status = 'disputed' THEN status WHEN max(amount_refunded, ?2) >= amount THEN 'refunded' ELSE 'partially_refunded' END,
         updated_at = ?3 WHERE id = ?1`,
    ).bind(purchase.id, amountRefunded, now),
    env.DB.prepare("UPDATE pending_refunds SET applied_at = ?2 WHERE payment_intent = ?1").bind(paymentIntent, now),
  ]);
  await recountClawedBack(env, purchase.id, now);
  return true;
}

export async function disputeOpened(env: Env, dispute: Stripe.Dispute, now: number): Promise<Outcome> {
  const paymentIntent = idOf(dispute.payment_intent);
  if (!paymentIntent) return "ignored: no payment intent";
  await env.DB.prepare(
    `INSERT INTO stripe_disputes (id, payment_intent, amount, status, created_at, updated_at) VALUES (?1, ?2, ?3, 'open', ?4, ?4)
     ON CONFLICT (id) DO NOTHING`,
  )
    .bind(dispute.id, paymentIntent, dispute.amount, now)
    .run();
  const row = await env.DB.prepare("SELECT status FROM stripe_disputes WHERE id = ?").bind(dispute.id).first<{ status: string }>();
  // A dispute whose closing arrived first is over: opening it now would block for good.
  if (row?.status !== "open") return "ignored: dispute already closed";
  return (await applyDispute(env, paymentIntent, dispute.id, dispute.amount, now)) ? "clawed_back_and_blocked" : "kept_until_purchase";
}

async function applyDispute(env: Env, paymentIntent: string, disputeId: string, amount: number, now: number): Promise<boolean> {
  const purchase = await purchaseOf(env, paymentIntent);
  if (!purchase) return false;
  const reply = await ledgerOf(env, purchase.account_id).clawBack(key(`stripe:dispute:${disputeId}`), {
    key: `dispute:${disputeId}`,
    target: clawbackTarget(purchase.credits, purchase.amount, amount),
    reference: purchase.id,
    description: "Payment disputed",
    metadata: { checkout_session: purchase.id, payment_intent: paymentIntent, dispute: disputeId },
    event: { type: "dispute.opened", data: { purchase_id: purchase.id, dispute_id: disputeId, amount, currency: purchase.currency } },
    disputeReason: "a payment dispute is open",
  });
  const result = expectApplied(reply, `dispute ${disputeId}`);
  await env.DB.batch([
    env.DB.prepare("UPDATE stripe_disputes SET credits_clawed_back = ?2, updated_at = ?3 WHERE id = ?1").bind(disputeId, result.total_clawed_back as number, now),
    env.DB.prepare("UPDATE purchases SET status = 'disputed', updated_at = ?2 WHERE id = ?1").bind(purchase.id, now),
  ]);
  await recountClawedBack(env, purchase.id, now);
  return true;
}

export async function disputeClosed(env: Env, dispute: Stripe.Dispute, now: number): Promise<Outcome> {
  const paymentIntent = idOf(dispute.payment_intent);
  if (!paymentIntent) return "ignored: no payment intent";
  const won = dispute.status === "won";
  if (!won && dispute.status !== "lost") return `ignored: dispute status ${dispute.status}`;
  await env.DB.prepare(
    `INSERT INTO stripe_disputes (id, payment_intent, amount, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
  )
    .bind(dispute.id, paymentIntent, dispute.amount, won ? "won" : "lost", now)
    .run();
  const purchase = await purchaseOf(env, paymentIntent);
  if (!purchase) return "recorded: purchase not found";
  const reply = await ledgerOf(env, purchase.account_id).closeDispute(key(`stripe:dispute-closed:${dispute.id}`), {
    key: `dispute:${dispute.id}`,
    won,
    reference: purchase.id,
    event: { purchase_id: purchase.id, dispute_id: dispute.id },
  });
  expectApplied(reply, `closing dispute ${dispute.id}`);
  await env.DB.prepare(
    `UPDATE purchases SET status = CASE
       WHEN ?2 = 0 THEN 'disputed'
       WHEN amount_refunded >= amount AND amount_refunded > 0 THEN 'refunded'
       WHEN amount_refunded > 0 THEN 'partially_refunded' ELSE 'paid' END,
     updated_at = ?3 WHERE id = ?1`,
  )
    .bind(purchase.id, won ? 1 : 0, now)
    .run();
  await recountClawedBack(env, purchase.id, now);
  return won ? "dispute_won: credits restored, unblocked" : "dispute_lost: clawback kept, unblocked";
}

/** credits_clawed_back: what the refunds say (the same formula the object applies) plus what disputes not won took. */
async function recountClawedBack(env: Env, purchaseId: string, now: number): Promise<void> {
  const row = await env.DB.prepare(
    `SELECT p.credits, p.amount, p.amount_refunded,
       (SELECT coalesce(sum(d.credits_clawed_back), 0) FROM stripe_disputes d WHERE d.payment_intent = p.payment_intent AND d.status != 'won') AS disputed
     FROM purchases p WHERE p.id = ?`,
  )
    .bind(purchaseId)
    .first<{ credits: number; amount: number; amount_refunded: number; disputed: number }>();
  if (!row) return;
  const total = clawbackTarget(row.credits, row.amount, row.amount_refunded) + row.disputed;
  await env.DB.prepare("UPDATE purchases SET credits_clawed_back = ?2, updated_at = ?3 WHERE id = ?1").bind(purchaseId, total, now).run();
}
