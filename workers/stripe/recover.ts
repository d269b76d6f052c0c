// Charged ⇒ credited: what Stripe says was paid, applied here even when its webhook never came (an
// endpoint not subscribed to the event, a wrong signing secret, an outage longer than Stripe's retries).
// The pass lists paid Checkout Sessions and succeeded PaymentIntents created in a window, asks D1 which
// of them are applied already, and applies the rest through the webhook's own functions under the same
// keys, so a payment the pass credits and whose webhook then arrives is credited once. Each repair is
// recorded in `payment_repairs` (the admin health view shows them). Failed auto-recharge charges are
// told to their account again, so a lost payment_failed cannot leave an attempt in flight for good.
import type Stripe from "stripe";
import type { Env } from "../env";
import type { Outcome } from "./applied";
import { cardSavedBy, creditRecharge, paymentFailed, rechargeOf, saveCard } from "./auto-recharge";
import { credit } from "./events";

export interface RecoveryWindow {
  /** Objects created from here (ms) … */
  from: number;
  /** … to here (ms): a little before now, so a webhook on its way has time to land first. */
  to: number;
}

export interface RecoveryLimits {
  /** Stop listing at this instant; the pass is then incomplete and the next one looks again. */
  deadline: number;
  /** Stripe objects looked at, at most. */
  maxObjects: number;
}

export interface Repair {
  stripeObject: string;
  kind: "checkout_session" | "auto_recharge" | "saved_card";
  accountId: string | null;
  credits: number;
  amount: number;
  currency: string | null;
  outcome: Outcome;
}

export interface RecoveryResult {
  /** Stripe objects looked at. */
  checked: number;
  repairs: Repair[];
  failures: number;
  /** Every object in the window was looked at and applied: the next pass may start after `to`. */
  complete: boolean;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** Ids from `ids` that D1 already holds as credited purchases. */
async function credited(env: Env, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await env.DB.prepare("SELECT id FROM purchases WHERE lot_id IS NOT NULL AND id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify(ids))
    .all<{ id: string }>();
  return new Set(rows.results.map((r) => r.id));
}

/** The card each account has in D1, and when it was saved. */
async function savedCards(env: Env, accountIds: string[]): Promise<Map<string, { paymentMethod: string | null; savedAt: number | null }>> {
  if (accountIds.length === 0) return new Map();
  const rows = await env.DB.prepare(
    "SELECT account_id, payment_method, payment_method_saved_at FROM stripe_customers WHERE account_id IN (SELECT value FROM json_each(?1))",
  )
    .bind(JSON.stringify(accountIds))
    .all<{ account_id: string; payment_method: string | null; payment_method_saved_at: number | null }>();
  return new Map(rows.results.map((r) => [r.account_id, { paymentMethod: r.payment_method, savedAt: r.payment_method_saved_at }]));
}

const isPaid = (s: Stripe.Checkout.Session) =>
  s.client_reference_id !== null && s.metadata?.credits !== undefined && (s.payment_status === "paid" || s.payment_status === "no_payment_required");

/**
 * Goes through one list page by page (Stripe's auto-pagination), handing each page to `apply`, until
 * the list, the deadline or the object budget ends. False when it stopped before the end.
 */
async function eachPage<T>(list: AsyncIterable<T>, limits: RecoveryLimits, counted: { n: number }, apply: (page: T[]) => Promise<void>): Promise<boolean> {
  let page: T[] = [];
  for await (const item of list) {
    page.push(item);
    counted.n++;
    if (page.length === 100) {
      await apply(page);
      page = [];
      if (Date.now() >= limits.deadline || counted.n >= limits.maxObjects) return false;
    }
  }
  if (page.length > 0) await apply(page);
  return true;
}

export async function recoverPayments(env: Env, stripe: Stripe, window: RecoveryWindow, limits: RecoveryLimits, now: number): Promise<RecoveryResult> {
  const repairs: Repair[] = [];
  const counted = { n: 0 };
  let failures = 0;
  const attempt = async (repair: Omit<Repair, "outcome">, apply: () => Promise<Outcome>) => {
    try {
      repairs.push({ ...repair, outcome: await apply() });
    } catch (err) {
      failures++;
      console.error(`payments pass: applying ${repair.stripeObject} failed; the next pass tries again`, err);
    }
  };
  const created = { gte: seconds(window.from), lte: seconds(window.to) };

  const sessionsDone = await eachPage(stripe.checkout.sessions.list({ created, status: "complete", limit: 100 }), limits, counted, async (page) => {
    const paid = page.filter(isPaid);
    const known = await credited(env, paid.map((s) => s.id));
    for (const s of paid) {
      if (known.has(s.id)) continue;
      const credits = Number(s.metadata?.credits);
      await attempt(
        { stripeObject: s.id, kind: "checkout_session", accountId: s.client_reference_id, credits, amount: s.amount_total ?? 0, currency: s.currency },
        () => credit(env, s, now),
      );
    }
  });

  const intentsDone = await eachPage(stripe.paymentIntents.list({ created, limit: 100 }), limits, counted, async (page) => {
    const succeeded = page.filter((pi) => pi.status === "succeeded");
    const recharges = succeeded.filter((pi) => rechargeOf(pi) !== null);
    const known = await credited(env, recharges.map((pi) => pi.id));
    for (const pi of recharges) {
      if (known.has(pi.id)) continue;
      const r = rechargeOf(pi);
      await attempt(
        { stripeObject: pi.id, kind: "auto_recharge", accountId: r?.accountId ?? null, credits: r?.credits ?? 0, amount: pi.amount_received || pi.amount, currency: pi.currency },
        () => creditRecharge(env, pi, now),
      );
    }
    // A failed auto-recharge whose payment_failed webhook was lost would leave its attempt in flight,
    // and no other could start: telling the account again is harmless (a stale try changes nothing).
    for (const pi of page) {
      if (pi.status !== "requires_payment_method" && pi.status !== "requires_action" && pi.status !== "canceled") continue;
      if (!pi.last_payment_error || !rechargeOf(pi)) continue;
      try {
        await paymentFailed(env, pi);
      } catch (err) {
        failures++;
        console.error(`payments pass: recording the failure of ${pi.id} failed; the next pass tries again`, err);
      }
    }
    const saves = succeeded.flatMap((pi) => {
      const saved = cardSavedBy(pi);
      return saved ? [{ pi, ...saved }] : [];
    });
    const cards = await savedCards(env, [...new Set(saves.map((s) => s.accountId))]);
    for (const { pi, accountId, card } of saves) {
      const kept = cards.get(accountId);
      if (kept?.paymentMethod === card.paymentMethod || (kept?.savedAt ?? -1) >= card.savedAt) continue;
      await attempt({ stripeObject: pi.id, kind: "saved_card", accountId, credits: 0, amount: 0, currency: null }, () => saveCard(env, accountId, card, now));
      cards.set(accountId, { paymentMethod: card.paymentMethod, savedAt: card.savedAt });
    }
  });

  return { checked: counted.n, repairs, failures, complete: sessionsDone && intentsDone && failures === 0 };
}
