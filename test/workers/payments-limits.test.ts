// Review of the payments change (issue 20): what is lost, doubled or stuck across the webhook, the
// hourly pass, the object's alarm and the platform's limits (issue 20's distributed-systems review: each
// was a finding, reproduced here before it was fixed).
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { RECONCILE_CRON, runCron } from "./cron-helpers";
import { account, api, eventually, ledger, openAccount, steadyClock } from "./helpers";
import { buy, fakeStripe, PACKAGE, paymentIntentsOf, saveCard, withPackage, type FakePaymentIntent } from "./recharge-helpers";
import { charge, deliver, dispute, event } from "./stripe-events";

// ---- a D1 binding that counts what one invocation asks of it ---------------------------------------

/** D1's limit per Worker invocation (FACTS.md: 1,000 queries; workerd does not enforce it locally). */
const D1_QUERIES_PER_INVOCATION = 1000;

interface Counted {
  db: D1Database;
  /** Calls that reach D1: each first/run/all/raw, and each batch() as one. */
  calls: number;
  /** Statements executed (a batch counts each of its statements). */
  statements: number;
}

/**
 * Wraps a D1 binding: counts every call, and with `enforce` refuses the calls past the limit as the
 * platform does ("Too many API requests by single worker invocation").
 */
function countingD1(real: D1Database, enforce = false): Counted {
  const counted: Counted = { db: real, calls: 0, statements: 0 };
  const raw = new WeakMap<object, D1PreparedStatement>();
  const take = (statements: number) => {
    counted.calls++;
    counted.statements += statements;
    if (enforce && counted.calls > D1_QUERIES_PER_INVOCATION) throw new Error("D1_ERROR: Too many API requests by single worker invocation.");
  };
  const wrap = (stmt: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(stmt, {
      get(target, prop) {
        if (prop === "bind") return (...args: unknown[]) => wrap(target.bind(...args));
        if (prop === "first" || prop === "run" || prop === "all" || prop === "raw") {
          return async (...args: unknown[]) => {
            take(1);
            return (target[prop] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    raw.set(proxy, stmt);
    return proxy;
  };
  counted.db = new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrap(target.prepare(sql));
      if (prop === "batch") {
        return async (stmts: D1PreparedStatement[]) => {
          take(stmts.length);
          return target.batch(stmts.map((s) => raw.get(s) ?? s));
        };
      }
      if (prop === "exec") {
        return async (sql: string) => {
          take(1);
          return target.exec(sql);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return counted;
}

// ---- Stripe's log -------------------------------------------------------------------------------

/** Writes an event into the fake Stripe's log without delivering it: its webhook was lost (or was delivered long ago). */
const logged = (type: string, object: Record<string, unknown>) => fakeStripe<{ id: string; created: number }>(`/__events`, { method: "POST", body: JSON.stringify({ type, object }) });

/**
 * `n` events the pass must apply, newer than anything before: refunds of charges this deployment never
 * sold (another product's on the same Stripe account). Each is recorded as a fact in case its purchase
 * lands later, so each costs the pass several D1 queries: what a busy shared Stripe account's log holds.
 */
async function filler(n: number, tag: string): Promise<number> {
  let newest = 0;
  for (let i = 0; i < n; i += 50) {
    const made = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, k) => logged("charge.refunded", charge(`pi_${tag}_${i + k}`, 500, 100))),
    );
    for (const e of made) newest = Math.max(newest, e.created);
  }
  return newest;
}

/** Polls the clock (with a deadline) until `second` is `margin` seconds in the past. */
async function secondsAfter(second: number, margin: number): Promise<void> {
  await eventually(async () => Math.floor(Date.now() / 1000), (now) => now > second + margin, 10_000);
}

/** Points the pass's saved cursor at `at` (Unix seconds): the walk starts there. */
async function cursorAt(at: number): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO system_state (key, value, updated_at) VALUES ('payments_log_cursor', ?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  )
    .bind(JSON.stringify({ at, after: null }), Date.now())
    .run();
}

async function savedCursor(): Promise<string | null> {
  return (await env.DB.prepare("SELECT value FROM system_state WHERE key = 'payments_log_cursor'").first<{ value: string }>())?.value ?? null;
}

/** The hourly invocation (sweep, reconciliation, the charged ⇒ credited pass) with the given D1 binding. */
async function hourly(db: D1Database, grace = "2"): Promise<void> {
  await runCron(Date.now(), RECONCILE_CRON, { PAYMENT_RECOVERY_GRACE_SECONDS: grace, DB: db } as unknown as Record<string, string>);
}

beforeAll(withPackage);

describe("the hourly pass against D1's 1,000 queries per invocation", () => {
  it("one hourly invocation over a log of 600 events stays within 1,000 D1 queries", async () => {
    const start = Math.floor(Date.now() / 1000) - 1;
    const newest = await filler(600, "q");
    await secondsAfter(newest, 3);
    await cursorAt(start);
    const d1 = countingD1(env.DB);
    await hourly(d1.db);
    // The pass made progress through them (its cursor moved, within or past their slice)…
    expect(await savedCursor()).not.toBe(JSON.stringify({ at: start, after: null }));
    // …but at one or two D1 queries per event, on top of the sweep's and reconciliation's.
    expect(d1.calls, `D1 calls in one invocation (statements: ${d1.statements})`).toBeLessThanOrEqual(D1_QUERIES_PER_INVOCATION);
  });

  it("a payment whose webhook was lost is credited even when 1,000 newer events share its hour (D1 refusing query 1,001)", async () => {
    const id = "rd-limit";
    await openAccount(id, 0);
    const start = Math.floor(Date.now() / 1000) - 1;
    // The lost payment first, then (from the next second on) a busy hour's worth of events after it.
    await buy(id, { deliver: [] });
    await secondsAfter(Math.floor(Date.now() / 1000), 0);
    const newest = await filler(1000, "lim");
    await secondsAfter(newest, 3);
    await cursorAt(start);
    // Hourly invocations, each with the platform's limit: however many run, the cursor must move and
    // the payment must land.
    const outcomes: string[] = [];
    for (let pass = 0; pass < 5 && (await account(id)).balance !== PACKAGE.credits; pass++) {
      const d1 = countingD1(env.DB, true);
      outcomes.push(await hourly(d1.db).then(() => `ok (${d1.calls} D1 calls)`, (err) => `failed after ${d1.calls} D1 calls: ${String(err).slice(0, 80)}`));
    }
    expect((await account(id)).balance, `passes: ${outcomes.join(" | ")}; saved cursor ${await savedCursor()}`).toBe(PACKAGE.credits);
  });
});

// ---- auto-recharge on a Stripe account another deployment shares -------------------------------------

describe("auto-recharge's Stripe idempotency key", () => {
  it("an account whose id another deployment on the same Stripe account also uses is still charged on its crossing", async () => {
    const id = "rd-shared-key";
    await steadyClock(id);
    await openAccount(id, 1000);
    expect((await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: PACKAGE.id } })).status).toBe(200);
    await saveCard(id, "pm_card_visa");
    // Staging (say) shares this Stripe account and has an account of the same id: its own first
    // auto-recharge went to Stripe under the key this account's first one will use.
    const form = new URLSearchParams({
      amount: "500",
      currency: "usd",
      customer: "cus_other_deployment",
      payment_method: "pm_card_visa",
      off_session: "true",
      confirm: "true",
      "metadata[kind]": "auto_recharge",
      "metadata[account_id]": id,
      "metadata[package_id]": PACKAGE.id,
      "metadata[credits]": String(PACKAGE.credits),
      "metadata[charge_ref]": "arc_other_deployment",
      "metadata[attempt]": "1",
      "metadata[try]": "1",
    });
    const theirs = await fakeStripe<FakePaymentIntent>("/v1/payment_intents", {
      method: "POST",
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded", "idempotency-key": `auto_recharge:${id}:1:1` },
    });
    // Stripe tells both deployments about it; this one rightly credits nothing for it.
    expect((await deliver(event("payment_intent.succeeded", { object: "payment_intent", ...theirs }))).body.outcome).toMatch(/^unapplied/);
    // This account crosses its threshold: its alarm sends its own first charge.
    expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 600 } })).status).toBe(201);
    for (let i = 0; i < 3; i++) await runDurableObjectAlarm(ledger(id));
    const ours = (await paymentIntentsOf(id)).filter((pi) => pi.metadata.charge_ref !== "arc_other_deployment");
    const state = await account(id);
    const calls = (await fakeStripe<{ idempotency_key: string | null; outcome: string }[]>("/__calls")).filter((c) => c.idempotency_key === `auto_recharge:${id}:1:1`);
    expect(ours, `Stripe calls under the key: ${calls.map((c) => c.outcome).join(", ")}; auto_recharge: ${JSON.stringify(state.auto_recharge)}`).toHaveLength(1);
  });
});

// ---- refunds and disputes as facts ---------------------------------------------------------------

describe("refund facts", () => {
  it("a refund that failed and was then made again takes the credits back again", async () => {
    const id = "rd-rerefund";
    await openAccount(id, 0);
    const paid = await buy(id, {});
    const pi = paid.payment_intent.id;
    expect((await account(id)).balance).toBe(PACKAGE.credits);
    // The first full refund: charge.refunded with the charge refunded in full.
    expect((await deliver(event("charge.refunded", charge(pi, PACKAGE.amount, PACKAGE.amount)))).status).toBe(200);
    expect((await account(id)).balance).toBe(0);
    // It fails (the card was closed): Stripe puts the money back on the charge, and the credits come back.
    // A day later (Stripe's events say when: the failure comes after the figure it lowers).
    const day = Math.floor(Date.now() / 1000) + 86_400;
    const failed = { id: `re_${id}_1`, object: "refund", payment_intent: pi, charge: `ch_${pi}`, amount: PACKAGE.amount, status: "failed" };
    expect((await deliver(event("charge.refund.updated", failed, undefined, day))).status).toBe(200);
    expect((await account(id)).balance).toBe(PACKAGE.credits);
    // The operator refunds again (another way), a day after that: the charge is refunded in full once
    // more. A card refund that succeeds may have no refund event of its own: charge.refunded says it.
    expect((await deliver(event("charge.refunded", charge(pi, PACKAGE.amount, PACKAGE.amount), undefined, day + 86_400))).status).toBe(200);
    expect((await account(id)).balance).toBe(0);
  });

  it("a purchase refunded before this change does not announce its refund again when its charge is next told about", async () => {
    const id = "rd-legacy";
    await openAccount(id, 0);
    const paid = await buy(id, {});
    const pi = paid.payment_intent.id;
    const reference = paid.session.id;
    // Half refunded: 500 credits taken back, one purchase.refunded.
    expect((await deliver(event("charge.refunded", charge(pi, PACKAGE.amount, PACKAGE.amount / 2)))).status).toBe(200);
    expect((await account(id)).balance).toBe(PACKAGE.credits / 2);
    // As the previous version left it: the same credits taken back and the same event, but the
    // clawback kept per key ("refund:<purchase>") rather than per purchase.
    await runInDurableObject(ledger(id), (_i, state) => {
      state.storage.sql.exec("DELETE FROM purchase_claims WHERE reference = ?", reference);
      state.storage.sql.exec("INSERT INTO clawbacks (key, clawed) VALUES (?, ?)", `refund:${reference}`, PACKAGE.credits / 2);
    });
    const refundedEvents = () =>
      runInDurableObject(ledger(id), (_i, state) => state.storage.sql.exec("SELECT count(*) AS n FROM events WHERE type = 'purchase.refunded'").one().n as number);
    expect(await refundedEvents()).toBe(1);
    // After the upgrade, an inquiry about the same charge (it takes nothing, refunds nothing more).
    expect((await deliver(event("charge.dispute.created", dispute(`dp_${id}`, pi, PACKAGE.amount, "warning_needs_response")))).status).toBe(200);
    expect((await account(id)).balance).toBe(PACKAGE.credits / 2);
    expect(await refundedEvents()).toBe(1);
  });
});
