// What applying a Stripe object here means, shared by the webhook's handlers and the charged ⇒
// credited pass: an object's answer counts only when it is a success (or the replay of one), and each
// change is keyed by the Stripe object it is about.
import type { WireReply } from "../../durable-objects/reply";
import type { Env } from "../env";

/** What applying an event did, recorded in stripe_events.outcome (and payment_repairs.outcome). */
export type Outcome = string;

/** A failure to apply: the webhook answers 5xx so that Stripe delivers the event again. */
export class NotApplied extends Error {}

export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value === null || value === undefined ? null : typeof value === "string" ? value : value.id;

/** An object's answer must be a success (or the replay of one) before the event counts as applied. */
export function expectApplied(reply: WireReply, what: string): Record<string, unknown> {
  if (reply.status >= 200 && reply.status < 300) return JSON.parse(reply.json) as Record<string, unknown>;
  throw new NotApplied(`${what}: the account answered ${reply.status} ${reply.json}`);
}

/** The idempotency of a change derived from a Stripe object: the key is its own fingerprint. */
export const key = (value: string) => ({ key: value, fingerprint: value });

export interface Unapplied {
  stripeObject: string;
  kind: "checkout_session" | "auto_recharge";
  accountId: string | null;
  /** Why it credits nothing here, for the operator (the admin health view lists these). */
  reason: string;
  amount: number | null;
  currency: string | null;
}

/**
 * A payment this deployment will not credit (another deployment's session on a shared Stripe account,
 * a session whose amount was not what was sold, an unknown account): recorded once per Stripe object,
 * with how often it was seen, and answered 200 so that Stripe stops sending it.
 */
export async function unapplied(env: Env, u: Unapplied, now: number): Promise<Outcome> {
  await env.DB.prepare(
    `INSERT INTO unapplied_payments (stripe_object, kind, account_id, reason, amount, currency, first_seen_at, last_seen_at, seen)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1)
     ON CONFLICT (stripe_object) DO UPDATE SET reason = excluded.reason, last_seen_at = excluded.last_seen_at, seen = unapplied_payments.seen + 1`,
  )
    .bind(u.stripeObject, u.kind, u.accountId, u.reason, u.amount, u.currency, now)
    .run();
  console.warn(`stripe: ${u.kind} ${u.stripeObject} not credited: ${u.reason}`);
  return `unapplied: ${u.reason}`;
}
