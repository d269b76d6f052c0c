// Which handler applies each verified Stripe event (API.md, "The Stripe webhook contract"); any other
// type is acknowledged and ignored.
import type Stripe from "stripe";
import type { Env } from "../env";
import type { Outcome } from "./applied";
import { cardSavedBy, paymentFailed, paymentSucceeded, rechargeOf } from "./auto-recharge";
import { disputeSeen, refunded, refundUpdated } from "./claims";
import { credit, failed, recordUnpaid } from "./events";

export { NotApplied } from "./applied";

export async function applyEvent(env: Env, event: Stripe.Event, now: number): Promise<Outcome> {
  switch (event.type) {
    case "checkout.session.completed":
      return event.data.object.payment_status === "paid" ? credit(env, event.data.object, now) : recordUnpaid(env, event.data.object, now);
    case "checkout.session.async_payment_succeeded":
      return credit(env, event.data.object, now);
    case "checkout.session.async_payment_failed":
      return failed(env, event.data.object, now);
    case "charge.refunded":
      return refunded(env, event.data.object, now, event.created);
    case "charge.refund.updated":
    case "refund.created":
    case "refund.updated":
    case "refund.failed":
      return refundUpdated(env, event.data.object, now, event.created);
    case "charge.dispute.created":
    case "charge.dispute.updated":
    case "charge.dispute.funds_withdrawn":
    case "charge.dispute.funds_reinstated":
    case "charge.dispute.closed":
      return disputeSeen(env, event.data.object, now);
    case "payment_intent.succeeded":
      return paymentSucceeded(env, event.data.object, now);
    case "payment_intent.payment_failed":
      return paymentFailed(env, event.data.object);
    default:
      return "ignored";
  }
}

/**
 * Whether applying the event could change anything here, judged from the event alone: a payment with
 * no Credence metadata (another product's, a checkout's own PaymentIntent that saves no card) is
 * ignored by applyEvent anyway. The charged ⇒ credited pass skips those without a query, so a log
 * full of other business costs it nothing.
 */
export function mayApply(event: Stripe.Event): boolean {
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
    case "checkout.session.async_payment_failed":
      return event.data.object.client_reference_id !== null && event.data.object.metadata?.credits !== undefined;
    case "payment_intent.succeeded":
      return rechargeOf(event.data.object) !== null || cardSavedBy(event.data.object) !== null;
    case "payment_intent.payment_failed":
      return rechargeOf(event.data.object) !== null;
    default:
      return true;
  }
}

export interface Applied {
  /** The event had been applied before (a redelivery, or the webhook beat the recovery pass). */
  duplicate: boolean;
  outcome: Outcome;
}

/**
 * Applies a verified event exactly once, for the webhook and the charged ⇒ credited pass alike: it is
 * recorded by Stripe's event id, and what is known of it read back, in one statement (a no-op update
 * returns the row when the event was seen before). An event that credited nothing here (unapplied:
 * another deployment's session, an unknown account) is not marked applied, so the pass looks at it
 * again once: a session can land a moment before the row that sells it. Throws NotApplied (or what
 * the account threw) when it could not be applied; nothing is then marked.
 */
export async function applyOnce(env: Env, event: Stripe.Event, now: number): Promise<Applied> {
  const seen = await env.DB.prepare(
    `INSERT INTO stripe_events (id, type, received_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING applied_at, outcome`,
  )
    .bind(event.id, event.type, now)
    .first<{ applied_at: number | null; outcome: string | null }>();
  if (seen && seen.applied_at !== null) return { duplicate: true, outcome: seen.outcome ?? "" };
  const outcome = await applyEvent(env, event, now);
  const appliedAt = outcome.startsWith("unapplied") ? null : Date.now();
  await env.DB.prepare("UPDATE stripe_events SET applied_at = ?2, outcome = ?3 WHERE id = ?1").bind(event.id, appliedAt, outcome).run();
  return { duplicate: false, outcome };
}
