// Sending an auto-recharge charge (called by the account's object from its alarm): an off-session
// PaymentIntent, confirmed at once, under the try's own idempotency key, so the same try sent twice (a
// crash after Stripe accepted it) is one charge. Without a Stripe key, in development, the local
// stand-in charges a test card and has "Stripe" send the webhook, so auto-recharge runs end to end on a
// laptop. What this returns is only whether Stripe has the try: the credits come from the webhook.
import Stripe from "stripe";
import type { Env } from "../env";
import { stripeClient } from "./client";
import { localCheckoutEnabled, localEvent, sendSignedEvent, TEST_CARDS } from "./local-checkout";
import { sha256Hex } from "../http/crypto";

export interface ChargeRequest {
  accountId: string;
  amount: number;
  currency: string;
  customer: string;
  paymentMethod: string;
  packageId: string;
  credits: number;
  /** The charge's reference: the webhook credits it only if the account's object made it. */
  ref: string;
  attempt: number;
  tries: number;
  idempotencyKey: string;
}

export type ChargeAnswer =
  /** Stripe has the try (made now, or already under its key): wait for the webhook. `afterRecorded`,
   * when given, must run once the object has recorded that (the local stand-in's webhook). */
  | { kind: "sent"; afterRecorded?: () => Promise<void> }
  /** The card was declined; `needsAction`: only its holder can make it pass (3-D Secure). */
  | { kind: "declined"; code: string; needsAction: boolean }
  /** Stripe refused the request itself (a detached or deleted card, `resource_missing`): retrying cannot help. */
  | { kind: "rejected"; code: string }
  /** Stripe could not be reached or is not configured: send the same try again later. */
  | { kind: "unreachable"; reason: string };

function metadata(req: ChargeRequest): Record<string, string> {
  return {
    kind: "auto_recharge",
    account_id: req.accountId,
    package_id: req.packageId,
    credits: String(req.credits),
    charge_ref: req.ref,
    attempt: String(req.attempt),
    try: String(req.tries),
  };
}

const declined = (code: string): ChargeAnswer => ({ kind: "declined", code, needsAction: code === "authentication_required" });

export async function sendCharge(env: Env, req: ChargeRequest): Promise<ChargeAnswer> {
  const stripe = stripeClient(env);
  if (!stripe) {
    if (localCheckoutEnabled(env)) return chargeLocally(env, req);
    return { kind: "unreachable", reason: "auto-recharge is due but STRIPE_SECRET_KEY is not set" };
  }
  try {
    await stripe.paymentIntents.create(
      {
        amount: req.amount,
        currency: req.currency,
        customer: req.customer,
        payment_method: req.paymentMethod,
        off_session: true,
        confirm: true,
        metadata: metadata(req),
      },
      { idempotencyKey: req.idempotencyKey },
    );
    return { kind: "sent" };
  } catch (err) {
    // Stripe already has this try under its key, sent with other terms (the plan changed after a
    // crash): that request stands, and its outcome arrives by webhook. Never a second charge.
    if (err instanceof Stripe.errors.StripeIdempotencyError) return { kind: "sent" };
    // Declined: the answer is recorded now, and again (a no-op) when payment_intent.payment_failed arrives.
    if (err instanceof Stripe.errors.StripeCardError) return declined(err.code ?? "card_declined");
    // The request itself is wrong for Stripe (the payment method or customer is gone): the same
    // request can only be refused again, so auto-recharge stops with the reason.
    if (err instanceof Stripe.errors.StripeInvalidRequestError) return { kind: "rejected", code: err.code ?? "invalid_request" };
    return { kind: "unreachable", reason: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The local stand-in: the test cards a local checkout saves behave as in Stripe's test mode (0002 is
 * declined, 3184 needs its holder, anything else succeeds), and a success reaches the webhook as a
 * signed payment_intent.succeeded, after the object has recorded the try as sent.
 */
async function chargeLocally(env: Env, req: ChargeRequest): Promise<ChargeAnswer> {
  if (req.paymentMethod === TEST_CARDS[1].paymentMethod) return declined("card_declined");
  if (req.paymentMethod === TEST_CARDS[2].paymentMethod) return declined("authentication_required");
  const id = `pi_local_ar_${(await sha256Hex(req.idempotencyKey)).slice(0, 24)}`;
  const event = localEvent(`evt_local_${id}`, "payment_intent.succeeded", {
    id,
    object: "payment_intent",
    amount: req.amount,
    amount_received: req.amount,
    currency: req.currency,
    customer: req.customer,
    payment_method: req.paymentMethod,
    status: "succeeded",
    created: Math.floor(Date.now() / 1000),
    metadata: metadata(req),
  });
  return {
    kind: "sent",
    afterRecorded: async () => {
      const res = await sendSignedEvent(env, event);
      if (res.status !== 200) console.error(`local auto-recharge: the webhook answered ${res.status} ${res.body}`);
    },
  };
}
