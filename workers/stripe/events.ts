// Checkout purchases (API.md, "The Stripe webhook contract"). A session credits only if this
// deployment sold it: its pending row in `purchases`, written when the session was created, must be
// there and agree on the account, the amount and the currency; the credits are the ones that row
// promised. Anything else signed by Stripe (another deployment's session on a shared Stripe account, a
// session paying 0.50 with metadata claiming a million credits) is recorded as unapplied and credits
// nothing. The credit itself is keyed by the session in the account's object, so any number of
// deliveries credit once.

import type Stripe from "stripe";
import { ledgerOf } from "../api/ledger";
import type { Env } from "../env";
import { expectApplied, idOf, key, unapplied, type Outcome } from "./applied";
import { syncClaims } from "./claims";

interface SoldRow {
  id: string;
  account_id: string;
  package_id: string;
  credits: number;
  amount: number;
  currency: string;
}

type Sold = { row: SoldRow } | { refused: string };

/** The purchase this deployment recorded for the session, if the session is what was sold. */
async function soldHere(env: Env, session: Stripe.Checkout.Session): Promise<Sold | null> {
  if (!session.client_reference_id || session.metadata?.credits === undefined) return null;
  const row = await env.DB.prepare("SELECT id, account_id, package_id, credits, amount, currency FROM purchases WHERE id = ?")
    .bind(session.id)
    .first<SoldRow>();
  if (!row) return { refused: "not created by this deployment (no checkout here made this session)" };
  if (row.account_id !== session.client_reference_id) return { refused: `made for account '${row.account_id}', not '${session.client_reference_id}'` };
  const currency = (session.currency ?? "").toLowerCase();
  if (session.amount_total !== row.amount || currency !== row.currency) {
    return { refused: `paid ${session.amount_total ?? "?"} ${currency || "?"}, but ${row.amount} ${row.currency} was sold` };
  }
  return { row };
}

async function markPurchase(env: Env, session: Stripe.Checkout.Session, status: "paid" | "pending" | "failed", now: number): Promise<void> {
  // A paid purchase never goes back to pending or failed, whatever order the events come in.
  await env.DB.prepare(
    `UPDATE purchases SET payment_intent = coalesce(?2, payment_intent), customer = coalesce(?3, customer),
       status = CASE WHEN status IN ('pending', 'failed') THEN ?4 ELSE status END, updated_at = ?5
     WHERE id = ?1`,
  )
    .bind(session.id, idOf(session.payment_intent), idOf(session.customer), status, now)
    .run();
}

const notSold = (env: Env, session: Stripe.Checkout.Session, reason: string, now: number) =>
  unapplied(env, { stripeObject: session.id, kind: "checkout_session", accountId: session.client_reference_id, reason, amount: session.amount_total, currency: session.currency }, now);

export async function credit(env: Env, session: Stripe.Checkout.Session, now: number): Promise<Outcome> {
  const sold = await soldHere(env, session);
  if (!sold) return "ignored: not a Credence checkout (no client_reference_id or metadata)";
  if ("refused" in sold) return notSold(env, session, sold.refused, now);
  const { row } = sold;
  await markPurchase(env, session, "paid", now);
  const paymentIntent = idOf(session.payment_intent);
  const reply = await ledgerOf(env, row.account_id).creditPurchase(key(`stripe:purchase:${row.id}`), {
    reference: row.id,
    credits: row.credits,
    description: `Purchase of ${row.package_id}`,
    metadata: { package_id: row.package_id, checkout_session: row.id, payment_intent: paymentIntent },
    event: { purchase_id: row.id, package_id: row.package_id, amount: row.amount, currency: row.currency, payment_intent: paymentIntent },
  });
  if (reply.status === 404) return notSold(env, session, "account_not_found", now);
  const credited = expectApplied(reply, `crediting ${row.id}`);
  await env.DB.prepare("UPDATE purchases SET lot_id = ?2, updated_at = ?3 WHERE id = ?1").bind(row.id, credited.lot_id as string, now).run();
  // A refund or a dispute that came first is applied now that its purchase is here.
  if (paymentIntent) await syncClaims(env, paymentIntent, now);
  return "credited";
}

export async function recordUnpaid(env: Env, session: Stripe.Checkout.Session, now: number): Promise<Outcome> {
  const sold = await soldHere(env, session);
  if (!sold || "refused" in sold) return "ignored: not a session sold here";
  await markPurchase(env, session, "pending", now);
  return "awaiting_payment";
}

export async function failed(env: Env, session: Stripe.Checkout.Session, now: number): Promise<Outcome> {
  const sold = await soldHere(env, session);
  if (!sold || "refused" in sold) return "ignored: not a session sold here";
  await markPurchase(env, session, "failed", now);
  return "payment_failed";
}
