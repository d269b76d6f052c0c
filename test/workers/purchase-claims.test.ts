// Refunds and disputes of one purchase (API.md, the Stripe webhook contract): inquiries take no money,
// a dispute ends in the state its closing says whatever order its events arrive in (or before its
// purchase), refunds and disputes together never take back more than the purchase credited, and a
// failed refund gives its credits back. Each test is an order of Stripe's events that ended wrong.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { journalOf } from "./cron-helpers";
import { account, api, openAccount } from "./helpers";
import { buy, fakeStripe, PACKAGE, withPackage, type Bought } from "./recharge-helpers";
import { charge, deliver, dispute, event } from "./stripe-events";

const send = async (type: string, object: Record<string, unknown>) => {
  const res = await deliver(event(type, object));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
};

/** An account that bought the package once (1000 credits for 500), nothing spent. */
async function bought(id: string): Promise<Bought> {
  await openAccount(id, 0);
  const paid = await buy(id, {});
  expect((await account(id)).balance).toBe(PACKAGE.credits);
  return paid;
}

const purchaseRow = (sessionId: string) =>
  env.DB.prepare("SELECT status, credits_clawed_back FROM purchases WHERE id = ?").bind(sessionId).first<{ status: string; credits_clawed_back: number }>();

beforeAll(withPackage);

describe("inquiries", () => {
  it("an inquiry (warning_needs_response) claws back nothing and blocks nothing, open or closed", async () => {
    const id = "cl-inquiry";
    const paid = await bought(id);
    await send("charge.dispute.created", dispute("dp_cl_inquiry", paid.payment_intent.id, PACKAGE.amount, "warning_needs_response"));
    expect(await account(id)).toMatchObject({ balance: PACKAGE.credits, blocked: null });
    await send("charge.dispute.closed", dispute("dp_cl_inquiry", paid.payment_intent.id, PACKAGE.amount, "warning_closed"));
    expect(await account(id)).toMatchObject({ balance: PACKAGE.credits, blocked: null });
    expect(await purchaseRow(paid.session.id)).toMatchObject({ status: "paid", credits_clawed_back: 0 });
  });
});

describe("a dispute's end state, whatever the order", () => {
  it("closed lost before created: clawed back and unblocked, and the late created changes nothing", async () => {
    const id = "cl-lost-first";
    const paid = await bought(id);
    await send("charge.dispute.closed", dispute("dp_cl_lost_first", paid.payment_intent.id, PACKAGE.amount, "lost"));
    expect(await account(id)).toMatchObject({ balance: 0, blocked: null });
    await send("charge.dispute.created", dispute("dp_cl_lost_first", paid.payment_intent.id, PACKAGE.amount, "needs_response"));
    expect(await account(id)).toMatchObject({ balance: 0, blocked: null });
    expect(await purchaseRow(paid.session.id)).toMatchObject({ status: "disputed", credits_clawed_back: PACKAGE.credits });
  });

  it("closed won before created: untouched and unblocked", async () => {
    const id = "cl-won-first";
    const paid = await bought(id);
    await send("charge.dispute.closed", dispute("dp_cl_won_first", paid.payment_intent.id, PACKAGE.amount, "won"));
    await send("charge.dispute.created", dispute("dp_cl_won_first", paid.payment_intent.id, PACKAGE.amount, "needs_response"));
    expect(await account(id)).toMatchObject({ balance: PACKAGE.credits, blocked: null });
    expect(await purchaseRow(paid.session.id)).toMatchObject({ status: "paid", credits_clawed_back: 0 });
  });

  it("closed lost before its purchase landed: clawed back and unblocked once the purchase lands", async () => {
    const id = "cl-lost-early";
    await openAccount(id, 0);
    const paid = await buy(id, { deliver: [] });
    await send("charge.dispute.closed", dispute("dp_cl_lost_early", paid.payment_intent.id, PACKAGE.amount, "lost"));
    await send("checkout.session.completed", paid.session);
    expect(await account(id)).toMatchObject({ balance: 0, blocked: null });
  });

  it("created and closed (won) delivered at the same moment: untouched and unblocked, every time", async () => {
    const ids = Array.from({ length: 6 }, (_, n) => `cl-race-${n}`);
    const purchases = await Promise.all(ids.map((id) => bought(id)));
    await Promise.all(
      purchases.flatMap((paid, n) => [
        send("charge.dispute.created", dispute(`dp_cl_race_${n}`, paid.payment_intent.id, PACKAGE.amount, "needs_response")),
        send("charge.dispute.closed", dispute(`dp_cl_race_${n}`, paid.payment_intent.id, PACKAGE.amount, "won")),
      ]),
    );
    for (const id of ids) expect(await account(id), id).toMatchObject({ balance: PACKAGE.credits, blocked: null });
  });

  it("an operator can lift a dispute's block; the lifting is recorded and a redelivered created does not block again", async () => {
    const id = "cl-admin-lift";
    const paid = await bought(id);
    const opened = dispute("dp_cl_admin_lift", paid.payment_intent.id, PACKAGE.amount, "needs_response");
    await send("charge.dispute.created", opened);
    expect((await account(id)).blocked).not.toBeNull();
    const lifted = await api("PUT", `/v1/accounts/${id}/block`, { body: { blocked: false, reason: "customer called, dispute withdrawn" } });
    expect(lifted.status).toBe(200);
    expect(lifted.body.blocked).toBeNull();
    const unblock = (await journalOf(id)).filter((e) => e.kind === "unblock");
    expect(unblock).toHaveLength(1);
    await send("charge.dispute.created", opened);
    expect((await account(id)).blocked).toBeNull();
  });
});

describe("one purchase never gives back more than it credited", () => {
  it("a full refund and a dispute of the same charge take back 1,000 credits, not 2,000", async () => {
    const id = "cl-refund-dispute";
    const paid = await bought(id);
    await send("charge.refunded", charge(paid.payment_intent.id, PACKAGE.amount, PACKAGE.amount));
    await send("charge.dispute.created", dispute("dp_cl_refund_dispute", paid.payment_intent.id, PACKAGE.amount, "needs_response"));
    expect(await account(id)).toMatchObject({ balance: 0, debt: 0 });
    await send("charge.dispute.closed", dispute("dp_cl_refund_dispute", paid.payment_intent.id, PACKAGE.amount, "lost"));
    expect(await account(id)).toMatchObject({ balance: 0, debt: 0, blocked: null });
    expect(await purchaseRow(paid.session.id)).toMatchObject({ credits_clawed_back: PACKAGE.credits });
  });

  it("a half refund and a dispute of the other half take back exactly what was bought", async () => {
    const id = "cl-halves";
    const paid = await bought(id);
    await send("charge.dispute.created", dispute("dp_cl_halves", paid.payment_intent.id, PACKAGE.amount / 2, "needs_response"));
    await send("charge.refunded", charge(paid.payment_intent.id, PACKAGE.amount, PACKAGE.amount / 2));
    expect(await account(id)).toMatchObject({ balance: 0, debt: 0 });
  });

  it("a refund that fails gives its credits back", async () => {
    const id = "cl-refund-failed";
    const paid = await bought(id);
    await send("charge.refunded", charge(paid.payment_intent.id, PACKAGE.amount, 250));
    expect((await account(id)).balance).toBe(500);
    const refund = { id: "re_cl_failed", object: "refund", amount: 250, charge: `ch_${paid.payment_intent.id}`, payment_intent: paid.payment_intent.id, status: "failed", failure_reason: "expired_or_canceled_card" };
    await send("charge.refund.updated", refund);
    expect((await account(id)).balance).toBe(PACKAGE.credits);
    expect(await purchaseRow(paid.session.id)).toMatchObject({ status: "paid", credits_clawed_back: 0 });
    // Stripe's log of the same refund failing, delivered again: nothing more.
    await send("charge.refund.updated", refund);
    expect((await account(id)).balance).toBe(PACKAGE.credits);
  });
});

describe("a checkout session credits only if this deployment sold it", () => {
  const unapplied = async () => (await api("GET", "/v1/admin/health")).body.payments.unapplied;

  it("a signed session with Credence's metadata that no checkout here created: 200, nothing credited, shown in health", async () => {
    const id = "cl-foreign";
    await openAccount(id, 0);
    const before = (await unapplied())?.count ?? 0;
    const foreign = { id: "cs_cl_foreign", object: "checkout.session", client_reference_id: id, metadata: { account_id: id, package_id: PACKAGE.id, credits: "1000000" }, amount_total: 50, currency: "usd", payment_intent: "pi_cl_foreign", customer: "cus_x", payment_status: "paid", status: "complete" };
    const res = await send("checkout.session.completed", foreign);
    expect(res.body.outcome).toMatch(/^unapplied/);
    expect((await account(id)).balance).toBe(0);
    const health = await unapplied();
    expect(health.count).toBe(before + 1);
    expect(health.recent).toContainEqual(expect.objectContaining({ stripe_object: "cs_cl_foreign", account_id: id, reason: expect.stringContaining("not created") }));
  });

  it("a session of ours whose amount or currency differs from what was recorded: nothing credited", async () => {
    const id = "cl-tampered";
    await openAccount(id, 0);
    for (const [n, change] of [{ amount_total: 50 }, { currency: "jpy" }].entries()) {
      const created = await api("POST", `/v1/accounts/${id}/checkout-sessions`, { body: { package_id: PACKAGE.id } });
      const paid = await fakeStripe<Bought>(`/__pay/${created.body.id}`, { method: "POST", body: "{}" });
      const res = await send("checkout.session.completed", { ...paid.session, ...change });
      expect(res.body.outcome, String(n)).toMatch(/^unapplied/);
    }
    expect((await account(id)).balance).toBe(0);
  });
});
