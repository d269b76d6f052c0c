// What applying a Stripe object here means, shared by the webhook's handlers and the charged ⇒
// credited pass: an object's answer counts only when it is a success (or the replay of one), and each
// change is keyed by the Stripe object it is about.
import type { WireReply } from "../../durable-objects/reply";

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
