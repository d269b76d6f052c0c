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
// Stripe lists newest first. The log is walked in slices of creation time, oldest slice first: an
// hour, or less where an hour holds more than a page (down to one second); inside a slice, pages follow
// `starting_after`, and the cursor records the slice and the last event handled in it.

import type Stripe from "stripe";
import type { QueryBudget } from "../db/query-budget";
import type { Env } from "../env";
import { applyOnce, mayApply, type Applied } from "./apply-event";

/** The kinds of event the webhook applies (apply-event.ts), as Stripe names them in `types[]`. */
export const RECOVERED_TYPES = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "charge.refunded",
  "charge.refund.updated",
  "refund.created",
  "refund.updated",
  "refund.failed",
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
  /** Events applied at most (each may call an account's object: a subrequest). */
  maxObjects: number;
  /** List calls to Stripe, at most (each is a subrequest). */
  maxCalls: number;
  /** D1 queries this pass may use (the invocation has 1,000 for everything it does). */
  budget: QueryBudget;
}

/** The most D1 queries one event's application takes (applyOnce and the heaviest handler, a checkout). */
export const QUERIES_PER_EVENT = 14;
/** Kept for writing down a page's progress (the cursor, its repairs and failures). */
export const QUERIES_RESERVED = 10;

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

/** What one page of the walk did: written down before the next page is read. */
export interface PageProgress {
  cursor: LogCursor;
  repairs: Repair[];
  failed: { event: Stripe.Event; error: string }[];
}

/**
 * Walks Stripe's log from `cursor` up to `until` (Unix seconds, inclusive), applying each event once,
 * until the log, the budget or the deadline ends, and hands each page's progress to `save` before it
 * reads the next (so a pass cut short loses at most the page it was on). Listing errors propagate (the
 * cursor stays at the last page saved); applying errors are returned to keep.
 *
 * Which events of a page the webhook already applied is asked in one query; only the others cost more.
 * A slice is paged through only once it is over (it ends before `now`'s second): events still being
 * written into a slice would be newer than the page already read and so skipped. A slice that is not
 * over is read whole from its newest event each time, and a pass that stops inside it starts it again.
 */
export async function walkLog(
  env: Env,
  stripe: Stripe,
  start: LogCursor,
  until: number,
  limits: RecoveryLimits,
  now: number,
  save: (progress: PageProgress) => Promise<void>,
): Promise<{ checked: number; applied: number; complete: boolean; cursor: LogCursor }> {
  const over = Math.floor(now / 1000) - 1;
  const db = limits.budget.db;
  let cursor: LogCursor = { ...start };
  let checked = 0;
  let applied = 0;
  let calls = 0;
  const roomFor = (queries: number) => limits.budget.left() >= queries + QUERIES_RESERVED;
  while (cursor.at <= until) {
    if (Date.now() >= limits.deadline || applied >= limits.maxObjects || calls >= limits.maxCalls || !roomFor(2)) {
      return { checked, applied, complete: false, cursor };
    }
    let sliceEnd = cursor.after !== null && cursor.end !== undefined ? cursor.end : Math.min(cursor.at + SLICE_SECONDS - 1, until);
    calls++;
    let page = await listSlice(stripe, cursor, sliceEnd);
    // Stripe lists newest first: a slice holding more than a page is halved until its first page is
    // all of it (or it is one second long), so the walk stays oldest first, to the second.
    while (cursor.after === null && page.has_more && sliceEnd > cursor.at && calls < limits.maxCalls) {
      sliceEnd = cursor.at + Math.floor((sliceEnd - cursor.at - 1) / 2);
      calls++;
      page = await listSlice(stripe, cursor, sliceEnd);
    }
    const relevant = page.data.filter(mayApply);
    const done = await alreadyApplied(db, relevant.map((e) => e.id));
    const progress: PageProgress = { cursor, repairs: [], failed: [] };
    let last: string | null = cursor.after;
    let stopped = false;
    for (const event of page.data) {
      if (mayApply(event) && !done.has(event.id)) {
        if (!roomFor(QUERIES_PER_EVENT) || applied >= limits.maxObjects || Date.now() >= limits.deadline) {
          stopped = true;
          break;
        }
        applied++;
        await applyLogged({ ...env, DB: db }, event, now, progress);
      }
      checked++;
      last = event.id;
    }
    const more = stopped || page.has_more;
    if (!more) cursor = { at: sliceEnd + 1, after: null };
    // Inside a slice that is over, the next page starts after the last event handled; in one that is
    // not, a page may not be resumed (newer events may still come), so it is read again from the top.
    else cursor = sliceEnd <= over && last !== null ? { at: cursor.at, after: last, end: sliceEnd } : { at: cursor.at, after: null };
    progress.cursor = cursor;
    await save(progress);
    if (stopped || (more && cursor.after === null)) return { checked, applied, complete: false, cursor };
  }
  return { checked, applied, complete: true, cursor };
}

function listSlice(stripe: Stripe, cursor: LogCursor, sliceEnd: number) {
  return stripe.events.list({
    created: { gte: cursor.at, lte: sliceEnd },
    types: [...RECOVERED_TYPES],
    limit: 100,
    ...(cursor.after ? { starting_after: cursor.after } : {}),
  });
}

/** Which of `ids` the webhook (or an earlier pass) already applied: one query for a page. */
async function alreadyApplied(db: D1Database, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .prepare("SELECT id FROM stripe_events WHERE applied_at IS NOT NULL AND id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify(ids))
    .all<{ id: string }>();
  return new Set(rows.results.map((r) => r.id));
}

async function applyLogged(env: Env, event: Stripe.Event, now: number, progress: Pick<PageProgress, "repairs" | "failed">): Promise<void> {
  try {
    const repair = repairOf(event, await applyOnce(env, event, now));
    if (repair) progress.repairs.push(repair);
  } catch (err) {
    progress.failed.push({ event, error: err instanceof Error ? err.message : String(err) });
    console.error(`payments pass: applying ${event.id} (${event.type}) failed; kept for the next passes`, err);
  }
}

/** Applies events kept by earlier passes while the budget allows; says which were tried. */
export async function retryKept(env: Env, events: Stripe.Event[], budget: QueryBudget, now: number): Promise<{ tried: Stripe.Event[]; progress: Pick<PageProgress, "repairs" | "failed"> }> {
  const progress: Pick<PageProgress, "repairs" | "failed"> = { repairs: [], failed: [] };
  const tried: Stripe.Event[] = [];
  for (const event of events) {
    if (budget.left() < QUERIES_PER_EVENT + QUERIES_RESERVED) break;
    tried.push(event);
    await applyLogged({ ...env, DB: budget.db }, event, now, progress);
  }
  return { tried, progress };
}
