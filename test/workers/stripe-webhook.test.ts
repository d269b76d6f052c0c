import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { account, api, audit, flush, openAccount } from "./helpers";
import { charge, deliver, dispute, event, session, sold } from "./stripe-events";

// The webhook contract (API.md): verified on the raw body, each Stripe object credits or claws back at
// most once whatever the number, order or concurrency of deliveries.

const purchaseRow = (id: string) => env.DB.prepare("SELECT * FROM purchases WHERE id = ?").bind(id).first<Record<string, any>>();
const eventRow = (id: string) => env.DB.prepare("SELECT * FROM stripe_events WHERE id = ?").bind(id).first<Record<string, any>>();

describe("a paid checkout", () => {
  it("delivered 5 times at once, plus its async twin, credits exactly once", async () => {
    const ID = "wh-once";
    await openAccount(ID);
    const completed = event("checkout.session.completed", await sold(session("cs_wh_once", ID)));
    const answers = await Promise.all([
      ...Array.from({ length: 5 }, () => deliver(completed)),
      deliver(event("checkout.session.async_payment_succeeded", await sold(session("cs_wh_once", ID)))),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const a = await account(ID);
    expect(a.balance).toBe(1000);
    expect(a.lots).toEqual([expect.objectContaining({ source: "purchase", amount: 1000 })]);
    expect(await purchaseRow("cs_wh_once")).toMatchObject({ account_id: ID, status: "paid", credits: 1000, amount: 500, currency: "usd", payment_intent: "pi_cs_wh_once" });
    await flush(ID);
    expect(await audit(ID)).toMatchObject({ balance: 1000, journalSum: 1000 });
    expect((await eventRow(completed.id))?.outcome).toBe("credited");
  });

  it("unpaid credits nothing until async_payment_succeeded; a failed async payment credits nothing and is recorded", async () => {
    const ID = "wh-async";
    await openAccount(ID);
    expect((await deliver(event("checkout.session.completed", await sold(session("cs_wh_async", ID, { payment_status: "unpaid" }))))).status).toBe(200);
    expect((await account(ID)).balance).toBe(0);
    expect((await purchaseRow("cs_wh_async"))?.status).toBe("pending");
    expect((await deliver(event("checkout.session.async_payment_succeeded", await sold(session("cs_wh_async", ID))))).status).toBe(200);
    expect((await account(ID)).balance).toBe(1000);

    const failedEvent = event("checkout.session.async_payment_failed", await sold(session("cs_wh_failed", ID, { payment_status: "unpaid" })));
    expect((await deliver(failedEvent)).status).toBe(200);
    expect((await account(ID)).balance).toBe(1000);
    expect((await purchaseRow("cs_wh_failed"))?.status).toBe("failed");
    expect((await eventRow(failedEvent.id))?.outcome).toBe("payment_failed");
  });
});

describe("refunds", () => {
  it("a refund before its purchase and partial refunds out of order claw back floor(credits × refunded / amount) once", async () => {
    const ID = "wh-refunds";
    await openAccount(ID);
    const pi = "pi_cs_wh_refunds";
    // 150 of 500 refunded arrives first; then the purchase; then 400 of 500, then 150 again.
    expect((await deliver(event("charge.refunded", charge(pi, 500, 150)))).body.outcome).toBe("kept_until_purchase");
    expect((await deliver(event("checkout.session.completed", await sold(session("cs_wh_refunds", ID))))).status).toBe(200);
    expect((await account(ID)).balance).toBe(700);
    expect((await deliver(event("charge.refunded", charge(pi, 500, 400)))).status).toBe(200);
    expect((await deliver(event("charge.refunded", charge(pi, 500, 150)))).status).toBe(200);
    // ⌊1000 × 400 / 500⌋ = 800 clawed back in all.
    expect((await account(ID)).balance).toBe(200);
    expect(await purchaseRow("cs_wh_refunds")).toMatchObject({ status: "partially_refunded", amount_refunded: 400, credits_clawed_back: 800 });
    await flush(ID);
    expect(await audit(ID)).toMatchObject({ balance: 200, journalSum: 200 });
  });

  it("a refund larger than the unspent credits leaves debt, and the next purchase pays it first", async () => {
    const ID = "wh-refund-debt";
    await openAccount(ID);
    await deliver(event("checkout.session.completed", await sold(session("cs_wh_debt_1", ID))));
    expect((await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 900 } })).status).toBe(201);
    await deliver(event("charge.refunded", charge("pi_cs_wh_debt_1", 500, 500)));
    expect(await account(ID)).toMatchObject({ balance: -900, debt: 900 });
    expect((await purchaseRow("cs_wh_debt_1"))?.status).toBe("refunded");
    await deliver(event("checkout.session.completed", await sold(session("cs_wh_debt_2", ID))));
    expect(await account(ID)).toMatchObject({ balance: 100, debt: 0 });
  });
});

describe("disputes", () => {
  async function disputed(ID: string, disputeId: string) {
    await openAccount(ID);
    await deliver(event("checkout.session.completed", await sold(session(`cs_${disputeId}`, ID))));
    expect((await deliver(event("charge.dispute.created", dispute(disputeId, `pi_cs_${disputeId}`, 250)))).status).toBe(200);
    const a = await account(ID);
    expect(a.balance).toBe(500);
    expect(a.blocked).toMatchObject({ reason: "a payment dispute is open" });
    const refused = await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 1 } });
    expect(refused.status).toBe(402);
    expect(refused.body.error.type).toBe("spending_blocked");
    expect((await purchaseRow(`cs_${disputeId}`))?.status).toBe("disputed");
  }

  it("opened: claws back and blocks; closed won: credits back and unblocked", async () => {
    await disputed("wh-dispute-won", "dp_won");
    expect((await deliver(event("charge.dispute.closed", dispute("dp_won", "pi_cs_dp_won", 250, "won")))).status).toBe(200);
    expect(await account("wh-dispute-won")).toMatchObject({ balance: 1000, blocked: null });
    expect((await api("POST", "/v1/accounts/wh-dispute-won/debits", { body: { amount: 1 } })).status).toBe(201);
    expect(await purchaseRow("cs_dp_won")).toMatchObject({ status: "paid", credits_clawed_back: 0 });
  });

  it("closed lost: the clawback stays, spending is allowed again", async () => {
    await disputed("wh-dispute-lost", "dp_lost");
    const closed = event("charge.dispute.closed", dispute("dp_lost", "pi_cs_dp_lost", 250, "lost"));
    expect((await deliver(closed)).status).toBe(200);
    expect((await deliver(closed)).body.duplicate).toBe(true);
    expect(await account("wh-dispute-lost")).toMatchObject({ balance: 500, blocked: null });
    expect(await purchaseRow("cs_dp_lost")).toMatchObject({ status: "disputed", credits_clawed_back: 500 });
  });
});

describe("signatures", () => {
  const ID = "wh-sig";
  const sent = () => event("checkout.session.completed", session("cs_wh_sig", ID));

  it.each<[string, Parameters<typeof deliver>[1]]>([
    ["a tampered body", { tamper: (raw) => raw.replace('"credits":"1000"', '"credits":"9000"') }],
    ["the wrong secret", { secret: "whsec_not_the_one" }],
    ["a timestamp older than 300 s", { timestamp: Math.floor(Date.now() / 1000) - 301 }],
    ["no Stripe-Signature header", { header: null }],
  ])("%s: 400 and nothing recorded", async (_name, options) => {
    await openAccount(ID);
    const evt = sent();
    const res = await deliver(evt, options);
    expect(res.status).toBe(400);
    expect(await eventRow(evt.id)).toBeNull();
    expect(await purchaseRow("cs_wh_sig")).toBeNull();
    expect((await account(ID)).balance).toBe(0);
  });

  it("an event type Credence does not use: 200, recorded as ignored", async () => {
    const evt = event("customer.created", { id: "cus_x", object: "customer" });
    expect((await deliver(evt)).status).toBe(200);
    expect((await eventRow(evt.id))?.outcome).toBe("ignored");
  });
});

describe("GET /v1/accounts/{id}/purchases", () => {
  it("lists what was paid, credited and clawed back, newest first, page by page", async () => {
    const ID = "wh-list";
    await openAccount(ID);
    for (const n of [1, 2, 3]) await deliver(event("checkout.session.completed", await sold(session(`cs_wh_list_${n}`, ID))));
    await deliver(event("checkout.session.completed", await sold(session("cs_wh_list_unpaid", ID, { payment_status: "unpaid" }))));
    await deliver(event("charge.refunded", charge("pi_cs_wh_list_2", 500, 100)));
    const first = await api("GET", `/v1/accounts/${ID}/purchases?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    const second = await api("GET", `/v1/accounts/${ID}/purchases?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.next_cursor).toBeNull();
    const all = [...first.body.data, ...second.body.data];
    expect(all.map((p: { id: string }) => p.id).sort()).toEqual(["cs_wh_list_1", "cs_wh_list_2", "cs_wh_list_3"]);
    expect(all.find((p: { id: string }) => p.id === "cs_wh_list_2")).toMatchObject({
      package_id: "starter",
      credits: 1000,
      amount: 500,
      currency: "usd",
      status: "partially_refunded",
      credits_clawed_back: 200,
      stripe: { checkout_session: "cs_wh_list_2", payment_intent: "pi_cs_wh_list_2" },
    });
  });

  it("an unknown account: 404", async () => {
    expect((await api("GET", "/v1/accounts/wh-nobody/purchases")).status).toBe(404);
  });
});

describe("a failure while applying", () => {
  it("answers 5xx so Stripe retries, and the retry credits exactly once", async () => {
    const { createApp } = await import("../../workers/app");
    const ID = "wh-retry";
    await openAccount(ID);
    // D1 fails after the account's object has credited, before the purchase row gets its lot.
    const failingDb = new Proxy(env.DB, {
      get(target, prop, receiver) {
        if (prop === "prepare") {
          return (sql: string) => {
            if (sql.includes("SET lot_id")) throw new Error("D1_ERROR: simulated outage");
            return target.prepare(sql);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const app = createApp();
    const completed = event("checkout.session.completed", await sold(session("cs_wh_retry", ID)));
    const failed = await deliver(completed, { via: (r) => Promise.resolve(app.fetch(r, { ...env, DB: failingDb })) });
    expect(failed.status).toBe(500);
    expect((await eventRow(completed.id))?.applied_at).toBeNull();

    const retried = await deliver(completed);
    expect(retried.status).toBe(200);
    expect((await account(ID)).balance).toBe(1000);
    expect(await purchaseRow("cs_wh_retry")).toMatchObject({ status: "paid" });
    expect((await purchaseRow("cs_wh_retry"))?.lot_id).toMatch(/^lot_/);
  });
});
