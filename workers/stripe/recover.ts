// Charged ⇒ credited: what Stripe says happened is applied here even when its webhook never came (an
// endpoint not subscribed to the event, a wrong signing secret, an outage longer than Stripe's
// retries). The pass reads Stripe's own event log, oldest first from a saved cursor, and applies every
// event of the kinds the webhook handles through the webhook's own applyOnce: an event the webhook
// already applied is skipped by its id, so nothing is credited or clawed back twice, and a payment,
// refund or dispute closing whose webhook was lost is applied once. A pass looks at a budget's worth
// of events and the next one goes on from where it stopped, so however many payments a window holds,
// every one is reached. An event that cannot be applied now is kept whole and tried again by later
// passes, so the cursor never has to wait for it.
//
// Stripe lists newest first. The log is walked in slices of SLICE_SECONDS of creation time, oldest
// slice first; inside a slice, pages follow `starting_after`, and the cursor records the slice and the
// last event handled in it.

import type Stripe from "stripe";
import type { Env } from "../env";
import { applyOnce, type Applied } from "./apply-event";

/** The kinds of event the webhook applies (apply-event.ts), as Stripe names them in `types[]`. */
export const RECOVERED_TYPES = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "charge.refunded",
  "charge.refund.updated",
  "charge.dispute.created",
  "charge.dispute.updated",
  "charge.dispute.closed",
] as const;

export const SLICE_SECONDS = 3600;
/** Stripe keeps its event log for 30 days; the cursor never points before what is still there. */
export const LOG_RETENTION_SECONDS = 29 * 86_400;

export interface LogCursor {
  /** The slice being walked starts here (Unix seconds, inclusive). */
  at: number;
  /**
   * The last event handled inside that slice (pages go on after it, toward older events); null: the
   * slice is untouched.
   */
  after: string | null;
  /**
   * Where the slice ends (inclusive), fixed once its first page was read: a later pass must not widen
   * a slice it is paging through, or the events added at its newer end would come before `after` in
   * Stripe's newest-first order and be skipped.
   */
  end?: number;
}

export interface RecoveryLimits {
  /** Stop at this instant (ms); the next pass goes on from the cursor. */
  deadline: number;
  /** Events looked at, at most. */
  maxObjects: number;
  /** List calls to Stripe, at most (each is a subrequest). */
  maxCalls: number;
}

export type RepairKind = "checkout_session" | "auto_recharge" | "saved_card" | "payment_failed" | "refund" | "dispute";

export interface Repair {
  stripeObject: string;
  kind: RepairKind;
  accountId: string | null;
  credits: number;
  amount: number;
  currency: string | null;
  outcome: string;
}

export interface RecoveryResult {
  /** Events looked at (retries included). */
  checked: number;
  repairs: Repair[];
  /** Events that could not be applied (kept for the next passes). */
  failures: number;
  /** Where the next pass starts. */
  cursor: LogCursor;
  /** The cursor reached `until`: everything up to it was looked at. */
  complete: boolean;
  /** Events that failed, to keep for a later pass. */
  failed: { event: Stripe.Event; error: string }[];
}

type Fields = Record<string, unknown>;
const text = (v: unknown): string | null => (typeof v === "string" ? v : null);
const whole = (v: unknown): number => (typeof v === "number" && Number.isSafeInteger(v) ? v : 0);

/** What the admin health view says about an event the pass applied (null: it changed nothing here). */
export function repairOf(event: Stripe.Event, applied: Applied): Repair | null {
  if (applied.duplicate || applied.outcome.startsWith("ignored") || applied.outcome.startsWith("unapplied") || applied.outcome === "kept_until_purchase") return null;
  const o = event.data.object as unknown as Fields;
  const metadata = (o.metadata ?? {}) as Record<string, string>;
  const base = { stripeObject: text(o.id) ?? event.id, outcome: applied.outcome, currency: text(o.currency), amount: 0, credits: 0, accountId: null };
  if (event.type.startsWith("checkout.session.")) {
    return { ...base, kind: "checkout_session", accountId: text(o.client_reference_id), amount: whole(o.amount_total), credits: Number(metadata.credits) || 0 };
  }
  if (event.type === "payment_intent.succeeded") {
    const kind = applied.outcome === "card_saved" ? "saved_card" : "auto_recharge";
    const amount = kind === "saved_card" ? 0 : whole(o.amount_received) || whole(o.amount);
    return { ...base, kind, accountId: metadata.account_id ?? null, amount, credits: kind === "saved_card" ? 0 : Number(metadata.credits) || 0, currency: kind === "saved_card" ? null : base.currency };
  }
  if (event.type === "payment_intent.payment_failed") return { ...base, kind: "payment_failed", accountId: metadata.account_id ?? null };
  if (event.type.startsWith("charge.dispute.")) return { ...base, kind: "dispute", amount: whole(o.amount) };
  return { ...base, kind: "refund", amount: whole(o.amount_refunded) || whole(o.amount) };
}

/**
 * Walks Stripe's log from `cursor` up to `until` (Unix seconds, inclusive), applying each event once,
 * until the log, the budget or the deadline ends. Listing errors propagate (the pass is then recorded
 * as failed and the cursor stays where it was); applying errors are counted and returned to keep.
 *
 * A slice is paged through only once it is over (it ends before `now`'s second): events still being
 * written into a slice would be newer than the page already read and so skipped. A slice that is not
 * over is read whole from its newest event each time, and a pass that stops inside it starts it again.
 */
export async function walkLog(env: Env, stripe: Stripe, start: LogCursor, until: number, limits: RecoveryLimits, now: number): Promise<RecoveryResult> {
  const over = Math.floor(now / 1000) - 1;
  const result: RecoveryResult = { checked: 0, repairs: [], failures: 0, cursor: { ...start }, complete: false, failed: [] };
  let calls = 0;
  while (result.cursor.at <= until) {
    if (Date.now() >= limits.deadline || result.checked >= limits.maxObjects || calls >= limits.maxCalls) return result;
    const sliceEnd = result.cursor.after !== null && result.cursor.end !== undefined ? result.cursor.end : Math.min(result.cursor.at + SLICE_SECONDS - 1, until);
    calls++;
    const page = await stripe.events.list({
      created: { gte: result.cursor.at, lte: sliceEnd },
      types: [...RECOVERED_TYPES],
      limit: 100,
      ...(result.cursor.after ? { starting_after: result.cursor.after } : {}),
    });
    for (const event of page.data) {
      result.checked++;
      await applyLogged(env, event, now, result);
    }
    const last = page.data.at(-1);
    if (page.has_more && last && sliceEnd > over) {
      result.cursor = { at: result.cursor.at, after: null };
      return result;
    }
    result.cursor = page.has_more && last ? { at: result.cursor.at, after: last.id, end: sliceEnd } : { at: sliceEnd + 1, after: null };
  }
  result.complete = true;
  return result;
}

async function applyLogged(env: Env, event: Stripe.Event, now: number, result: RecoveryResult): Promise<void> {
  try {
    const repair = repairOf(event, await applyOnce(env, event, now));
    if (repair) result.repairs.push(repair);
  } catch (err) {
    result.failures++;
    result.failed.push({ event, error: err instanceof Error ? err.message : String(err) });
    console.error(`payments pass: applying ${event.id} (${event.type}) failed; kept for the next passes`, err);
  }
}

/** Applies events kept by earlier passes; returns those that failed again. */
export async function retryKept(env: Env, events: Stripe.Event[], now: number): Promise<RecoveryResult> {
  const result: RecoveryResult = { checked: 0, repairs: [], failures: 0, cursor: { at: 0, after: null }, complete: true, failed: [] };
  for (const event of events) {
    result.checked++;
    await applyLogged(env, event, now, result);
  }
  return result;
}
