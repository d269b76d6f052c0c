// POST /stripe/webhook: Stripe's events, verified on the raw body, recorded by event id, applied
// exactly once (events.ts). The answer is 2xx only once the event is durably applied; anything that
// failed on the way is a 5xx, so that Stripe delivers it again (and re-applying is harmless).

import { Hono } from "hono";
import Stripe from "stripe";
import type { Env } from "../env";
import { errorBody } from "../http/errors";
import { cryptoProvider } from "./client";
import { applyEvent, NotApplied } from "./apply-event";

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

  const now = Date.now();
  // Recorded, and what is known of it read back, in one statement: a no-op update returns the row
  // when the event was seen before.
  const seen = await c.env.DB.prepare(
    `INSERT INTO stripe_events (id, type, received_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING applied_at, outcome`,
  )
    .bind(event.id, event.type, now)
    .first<{ applied_at: number | null; outcome: string | null }>();
  if (seen && seen.applied_at !== null) return c.json({ received: true, duplicate: true, outcome: seen.outcome }, 200);

  let outcome: string;
  try {
    outcome = await applyEvent(c.env, event, now);
  } catch (err) {
    console.error(`stripe: event ${event.id} (${event.type}) not applied`, err);
    const message = err instanceof NotApplied ? err.message : "The event could not be applied; Stripe will deliver it again.";
    return c.json(errorBody("not_applied", message), 500);
  }
  await c.env.DB.prepare("UPDATE stripe_events SET applied_at = ?2, outcome = ?3 WHERE id = ?1").bind(event.id, Date.now(), outcome).run();
  return c.json({ received: true, outcome }, 200);
});
