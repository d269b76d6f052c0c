// The Stripe side of auto-recharge (the object's alarm sends the charge; this applies what Stripe says
// about it): payment_intent.succeeded credits an auto-recharge once, keyed by its PaymentIntent, and
// records it as a purchase so refunds and disputes claw back like any other; payment_intent.payment_failed
// retries or disables; and a checkout paid with save_payment_method saves the card auto-recharge charges.
// The same functions serve the charged ⇒ credited pass (recover.ts), so both paths apply a payment the
// same way, once.
import type Stripe from "stripe";
import type { SavedCard } from "../../durable-objects/ledger/recharge";
import { ledgerOf } from "../api/ledger";
import type { Env } from "../env";
import { expectApplied, idOf, key, unapplied, type Outcome } from "./applied";
import { syncClaims } from "./claims";

/** What an auto-recharge PaymentIntent's metadata says (the object set it); null when it is not one. */
export function rechargeOf(pi: Stripe.PaymentIntent) {
  const m = pi.metadata ?? {};
  const credits = Number(m.credits);
  const attempt = Number(m.attempt);
  const tries = Number(m.try);
  if (m.kind !== "auto_recharge" || !m.account_id || !m.package_id) return null;
  if (![credits, attempt, tries].every((n) => Number.isSafeInteger(n) && n >= 1)) return null;
  return { accountId: m.account_id, packageId: m.package_id, credits, attempt, tries, ref: m.charge_ref ?? null };
}

/**
 * The card a checkout saved: its PaymentIntent succeeded with `setup_future_usage: off_session` (what
 * checkout-sessions asks for with save_payment_method), so Stripe attached the payment method to the
 * account's customer. Null for any other PaymentIntent.
 */
export function cardSavedBy(pi: Stripe.PaymentIntent): { accountId: string; card: SavedCard } | null {
  const accountId = pi.metadata?.account_id;
  const customer = idOf(pi.customer);
  const paymentMethod = idOf(pi.payment_method);
  if (!accountId || pi.metadata?.kind === "auto_recharge" || pi.setup_future_usage !== "off_session") return null;
  if (pi.status !== "succeeded" || !customer || !paymentMethod) return null;
  return { accountId, card: { customer, paymentMethod, savedAt: pi.created * 1000 } };
}

export async function paymentSucceeded(env: Env, pi: Stripe.PaymentIntent, now: number): Promise<Outcome> {
  if (rechargeOf(pi)) return creditRecharge(env, pi, now);
  const saved = cardSavedBy(pi);
  if (saved) return saveCard(env, saved.accountId, saved.card, now);
  // A checkout's own PaymentIntent: its credits come with checkout.session.completed.
  return "ignored: not an auto-recharge";
}

/** An auto-recharge that Stripe charged: its credits, once, and a purchase row (refunds, disputes). */
export async function creditRecharge(env: Env, pi: Stripe.PaymentIntent, now: number): Promise<Outcome> {
  const recharge = rechargeOf(pi);
  if (!recharge) return "ignored: not an auto-recharge";
  const amount = pi.amount_received || pi.amount;
  const reply = await ledgerOf(env, recharge.accountId).creditRecharge(key(`stripe:auto_recharge:${pi.id}`), {
    attempt: recharge.attempt,
    ref: recharge.ref,
    credits: recharge.credits,
    amount,
    currency: pi.currency,
    paymentIntent: pi.id,
  });
  if (reply.status === 404) return unapplied(env, { stripeObject: pi.id, kind: "auto_recharge", accountId: recharge.accountId, reason: "account_not_found", amount, currency: pi.currency }, now);
  if (reply.status === 409) {
    return unapplied(env, { stripeObject: pi.id, kind: "auto_recharge", accountId: recharge.accountId, reason: "unknown_charge: not sent by this deployment", amount, currency: pi.currency }, now);
  }
  const credited = expectApplied(reply, `crediting auto-recharge ${pi.id}`);
  await env.DB.prepare(
    `INSERT INTO purchases (id, account_id, package_id, credits, amount, currency, status, payment_intent, customer, lot_id, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'paid', ?1, ?7, ?8, ?9, ?9)
     ON CONFLICT (id) DO UPDATE SET lot_id = coalesce(purchases.lot_id, excluded.lot_id), updated_at = excluded.updated_at`,
  )
    .bind(pi.id, recharge.accountId, recharge.packageId, recharge.credits, amount, pi.currency, idOf(pi.customer), credited.lot_id as string, now)
    .run();
  // A refund or a dispute that came first is applied now that its purchase is here.
  await syncClaims(env, pi.id, now);
  return "credited: auto_recharge";
}

export async function paymentFailed(env: Env, pi: Stripe.PaymentIntent): Promise<Outcome> {
  const recharge = rechargeOf(pi);
  if (!recharge) return "ignored: not an auto-recharge";
  const code = pi.last_payment_error?.code ?? "card_declined";
  const reply = await ledgerOf(env, recharge.accountId).failRecharge({
    attempt: recharge.attempt,
    tries: recharge.tries,
    ref: recharge.ref,
    code,
    needsAction: code === "authentication_required" || pi.status === "requires_action",
  });
  if (reply.status === 404) return "unapplied: account_not_found";
  expectApplied(reply, `recording the failure of ${pi.id}`);
  return "recorded: auto_recharge_failed";
}

/**
 * Keeps the card in D1 (where PUT /auto-recharge finds it, even before auto-recharge is set) and
 * hands it to the account's object. The latest save wins on both sides, whatever the order. Only a
 * card of the account's own Stripe customer (the one its checkouts here were made for) is kept: any
 * other PaymentIntent naming the account (another deployment's, on a shared Stripe account) would
 * otherwise give it a stranger's card to charge.
 */
export async function saveCard(env: Env, accountId: string, card: SavedCard, now: number): Promise<Outcome> {
  const saved = { ...card, savedAt: Math.min(card.savedAt, now) };
  const kept = await env.DB.prepare(
    `UPDATE stripe_customers SET payment_method = ?3, payment_method_saved_at = ?4
     WHERE account_id = ?1 AND customer_id = ?2
       AND (payment_method_saved_at IS NULL OR ?4 >= payment_method_saved_at) RETURNING account_id`,
  )
    .bind(accountId, saved.customer, saved.paymentMethod, saved.savedAt)
    .first<{ account_id: string }>();
  if (!kept) {
    const own = await env.DB.prepare("SELECT customer_id FROM stripe_customers WHERE account_id = ?").bind(accountId).first<{ customer_id: string }>();
    if (own?.customer_id !== saved.customer) return "ignored: the card's customer is not this account's";
  }
  const reply = await ledgerOf(env, accountId).saveCard(saved);
  if (reply.status === 404) return "unapplied: account_not_found";
  expectApplied(reply, `saving the card of ${accountId}`);
  return "card_saved";
}

/** The card D1 keeps for an account, for PUT /auto-recharge; null when no checkout saved one. */
export async function savedCardOf(env: Env, accountId: string): Promise<SavedCard | null> {
  const row = await env.DB.prepare("SELECT customer_id, payment_method, payment_method_saved_at FROM stripe_customers WHERE account_id = ?")
    .bind(accountId)
    .first<{ customer_id: string; payment_method: string | null; payment_method_saved_at: number | null }>();
  if (!row?.payment_method) return null;
  return { customer: row.customer_id, paymentMethod: row.payment_method, savedAt: row.payment_method_saved_at ?? 0 };
}
