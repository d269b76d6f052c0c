// POST /stripe/webhook: Stripe's events, verified on the raw body, recorded by event id, applied
// exactly once (events.ts). The answer is 2xx only once the event is durably applied; anything that
// failed on the way is a 5xx, so that Stripe delivers it again (and re-applying is harmless).

import { Hono } from "hono";
import Stripe from "stripe";
import type { Env } from "../env";
import { errorBody } from "../http/errors";
import { cryptoProvider } from "./client";
import { applyOnce, NotApplied, type Applied } from "./apply-event";

/** Stripe's own default: a signature older than this is refused, so a captured request cannot be replayed later. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export const webhook = new Hono<{ Bindings: Env }>();

webhook.post("/stripe/webhook", async (c) => {
  const secret = c.env.STRIPE_WEBHOOK_SECRET;
  if (!secret) return c.json(errorBody("payments_not_configured", "STRIPE_WEBHOOK_SECRET is not set: this deployment cannot accept Stripe events."), 503);
  const signature = c.req.header("stripe-signature");
  if (!signature) return c.json(errorBody("signature_missing", "The Stripe-Signature header is missing."), 400);
  // The bytes as sent: a signature covers the raw body, never a re-serialized one.
  const raw = await c.req.text();
  let event: Stripe.Event;
  try {
    event = await Stripe.webhooks.constructEventAsync(raw, signature, secret, SIGNATURE_TOLERANCE_SECONDS, cryptoProvider);
  } catch (err) {
    return c.json(errorBody("invalid_signature", `The Stripe signature does not verify: ${(err as Error).message}`), 400);
  }

  let applied: Applied;
  try {
    applied = await applyOnce(c.env, event, Date.now());
  } catch (err) {
    console.error(`stripe: event ${event.id} (${event.type}) not applied`, err);
    const message = err instanceof NotApplied ? err.message : "The event could not be applied; Stripe will deliver it again.";
    return c.json(errorBody("not_applied", message), 500);
  }
  return c.json({ received: true, ...(applied.duplicate ? { duplicate: true } : {}), outcome: applied.outcome }, 200);
});
