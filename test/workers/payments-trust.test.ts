// What a signed Stripe event may and may not do (issue 20's security review: each of the first four
// describes was a finding, reproduced here before it was fixed; the last records what was checked and
// found sound). Every Stripe event here is signed with the webhook secret, as an event from
// another deployment sharing the Stripe account (or any Stripe object carrying Credence-shaped
// metadata that this deployment did not make) would be.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { setClock } from "./cron-helpers";
import { account, api, ledger, openAccount } from "./helpers";
import { buy, deliverOutcome, PACKAGE, rechargesOf, withPackage } from "./recharge-helpers";
import { deliver, dispute, event } from "./stripe-events";

const T = Date.parse("2030-04-10T12:00:00Z");

const enable = (id: string, threshold = 500) => api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold, package_id: PACKAGE.id } });
const debit = async (id: string, amount: number) => expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount } })).status).toBe(201);

async function alarmAt(id: string, at: number) {
  await setClock(id, at);
  await runDurableObjectAlarm(ledger(id));
}

/** Auto-recharge on (threshold 500), a card saved by a real checkout here (1000 credits). */
async function withSavedCard(id: string) {
  await setClock(id, T);
  await openAccount(id, 0);
  expect((await enable(id)).status).toBe(200);
  const paid = await buy(id, { save: true });
  expect(await account(id)).toMatchObject({ balance: PACKAGE.credits, auto_recharge: { has_payment_method: true, status: "idle" } });
  return paid;
}

const cardRow = (id: string) =>
  env.DB.prepare("SELECT customer_id, payment_method FROM stripe_customers WHERE account_id = ?").bind(id).first<{ customer_id: string; payment_method: string | null }>();

/** A PaymentIntent with auto-recharge metadata that the account's object never sent. */
const forgedRecharge = (id: string, piId: string, over: Record<string, string> = {}) => ({
  id: piId,
  object: "payment_intent",
  amount: 50,
  amount_received: 50,
  currency: "usd",
  customer: "cus_elsewhere",
  payment_method: "pm_elsewhere",
  status: "succeeded",
  created: Math.floor(Date.now() / 1000),
  last_payment_error: null,
  // No charge_ref: what a deployment running the code before this change sends, or any PI made with
  // the Stripe key that copies Credence's metadata.
  metadata: { kind: "auto_recharge", account_id: id, package_id: PACKAGE.id, credits: "1000000", attempt: "1", try: "1", ...over },
});

beforeAll(withPackage);

describe("F1 auto-recharge credit without a charge reference (workers/stripe/auto-recharge.ts, durable-objects/ledger/purchases.ts sentHere)", () => {
  it("a signed payment_intent.succeeded with auto-recharge metadata but no charge_ref, paying 0.50, credits nothing", async () => {
    const id = "rs-legacy-ref";
    await withSavedCard(id);
    // One real crossing: attempt 1 is sent with a reference and its success is credited.
    await debit(id, 600);
    await alarmAt(id, T + 1);
    const [real] = await rechargesOf(id);
    expect(real?.metadata.charge_ref).toMatch(/^arc/);
    await deliverOutcome(real!);
    const before = (await account(id)).balance;
    expect(before).toBe(400 + PACKAGE.credits);

    // Three PaymentIntents this account never sent, each claiming attempt 1 and a million credits.
    for (const n of [1, 2, 3]) {
      const res = await deliver(event("payment_intent.succeeded", forgedRecharge(id, `pi_rs_legacy_${n}`)));
      expect(res.status).toBe(200);
    }
    expect((await account(id)).balance).toBe(before);
  });
});

describe("F2 a card saved by a PaymentIntent this deployment never sold (workers/stripe/auto-recharge.ts cardSavedBy/saveCard)", () => {
  const foreignSave = (id: string, piId: string, created: number, customer: string) => ({
    id: piId,
    object: "payment_intent",
    amount: 500,
    amount_received: 500,
    currency: "usd",
    customer,
    payment_method: "pm_other_deployment",
    setup_future_usage: "off_session",
    status: "succeeded",
    created,
    metadata: { account_id: id, package_id: PACKAGE.id, credits: String(PACKAGE.credits) },
  });

  it("does not replace the account's Stripe customer and card, and auto-recharge does not charge the foreign card", async () => {
    const id = "rs-card-foreign";
    const paid = await withSavedCard(id);
    const ours = await cardRow(id);
    expect(ours).toMatchObject({ customer_id: paid.payment_intent.customer, payment_method: "pm_card_visa" });

    // Another deployment on the same Stripe account sells to its own user with the same id (or anyone
    // with a PaymentIntent carrying this metadata); created far ahead, so it stays "the newest card".
    const res = await deliver(event("payment_intent.succeeded", foreignSave(id, "pi_rs_card_foreign", Math.floor(T / 1000) + 10 * 365 * 86_400, "cus_other_deployment")));
    expect(res.status).toBe(200);
    expect.soft(res.body.outcome).not.toBe("card_saved");
    expect.soft(await cardRow(id)).toEqual(ours);

    await debit(id, 600);
    await alarmAt(id, T + 1);
    const charged = await rechargesOf(id);
    expect(charged.map((pi) => pi.customer)).toEqual([paid.payment_intent.customer]);
  });

  it("a foreign card save for an account that does not exist yet does not pre-seed the customer its future checkouts use", async () => {
    const id = "rs-card-preseed";
    const res = await deliver(event("payment_intent.succeeded", foreignSave(id, "pi_rs_card_preseed", Math.floor(Date.now() / 1000), "cus_other_deployment_2")));
    expect(res.status).toBe(200);
    await openAccount(id, 0);
    const created = await api("POST", `/v1/accounts/${id}/checkout-sessions`, { body: { package_id: PACKAGE.id } });
    expect(created.status).toBe(201);
    const row = await env.DB.prepare("SELECT customer FROM purchases WHERE id = ?").bind(created.body.id).first<{ customer: string }>();
    expect(row?.customer).not.toBe("cus_other_deployment_2");
  });
});

describe("F3 an auto-recharge failure this account never sent (workers/stripe/auto-recharge.ts paymentFailed)", () => {
  it("a signed payment_intent.payment_failed with another charge_ref does not disable the account's auto-recharge", async () => {
    const id = "rs-fail-forged";
    await withSavedCard(id);
    await debit(id, 600);
    await alarmAt(id, T + 1);
    // Stripe has attempt 1 (sent, outcome not delivered yet): the charge is in flight.
    expect((await account(id)).auto_recharge).toMatchObject({ status: "in_flight" });

    const forged = {
      ...forgedRecharge(id, "pi_rs_fail_forged", { charge_ref: "arc_not_ours", credits: String(PACKAGE.credits) }),
      status: "requires_payment_method",
      amount_received: 0,
      last_payment_error: { code: "authentication_required" },
    };
    const res = await deliver(event("payment_intent.payment_failed", forged));
    expect(res.status).toBe(200);
    expect((await account(id)).auto_recharge).toMatchObject({ status: "in_flight", disabled_reason: null });
  });
});

describe("F4 the webhook reads any body before checking its signature (workers/stripe/webhook.ts, workers/app.ts)", () => {
  it("an unsigned 8 MiB body is refused as too large (413) rather than read into memory and hashed", async () => {
    const body = JSON.stringify({ id: "evt_big", type: "ping", pad: "x".repeat(8 * 1024 * 1024) });
    const res = await exports.default.fetch("https://credence.test/stripe/webhook", {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00" },
      body,
    });
    expect(res.status).toBe(413);
  });
});

describe("checked and sound (these pass)", () => {
  async function keyWith(scopes: string[]): Promise<string> {
    const res = await api("POST", "/v1/api-keys", { body: { name: `review ${scopes.join("+")}`, scopes } });
    expect(res.status).toBe(201);
    return res.body.key as string;
  }

  it("a write key cannot lift a dispute's block nor read the payments health view", async () => {
    const id = "rs-sound-scope";
    await openAccount(id, 0);
    const paid = await buy(id, {});
    await deliver(event("charge.dispute.created", dispute("dp_rs_sound_scope", paid.payment_intent.id, PACKAGE.amount)));
    expect((await account(id)).blocked).not.toBeNull();
    const write = await keyWith(["write"]);
    expect((await api("PUT", `/v1/accounts/${id}/block`, { key: write, body: { blocked: false } })).status).toBe(403);
    expect((await api("GET", "/v1/admin/health", { key: write })).status).toBe(403);
    expect((await account(id)).blocked).not.toBeNull();
  });

  it("a signed foreign checkout session (metadata claiming a million credits, or our session re-pointed at another account) credits nothing", async () => {
    const id = "rs-sound-session";
    await openAccount(id, 0);
    const other = "rs-sound-session-other";
    await openAccount(other, 0);
    const created = await api("POST", `/v1/accounts/${id}/checkout-sessions`, { body: { package_id: PACKAGE.id } });
    const paid = await (await fetch(`${env.STRIPE_API_BASE}/__pay/${created.body.id}`, { method: "POST", headers: { authorization: "Bearer sk_test_fake" }, body: "{}" })).json() as { session: Record<string, unknown> };
    const res = await deliver(event("checkout.session.completed", { ...paid.session, client_reference_id: other, metadata: { account_id: other, package_id: PACKAGE.id, credits: "1000000" } }));
    expect(res.body.outcome).toMatch(/^unapplied/);
    expect((await account(other)).balance).toBe(0);
    expect((await account(id)).balance).toBe(0);
  });

  it("refunds and disputes of one purchase never claw back more than it credited, whatever amounts Stripe reports", async () => {
    const id = "rs-sound-claims";
    await openAccount(id, 0);
    const paid = await buy(id, {});
    await deliver(event("charge.refunded", { id: "ch_rs", object: "charge", payment_intent: paid.payment_intent.id, amount: 10 ** 9, amount_refunded: 10 ** 9 }));
    await deliver(event("charge.dispute.closed", dispute("dp_rs_sound_claims", paid.payment_intent.id, 10 ** 9, "lost")));
    expect(await account(id)).toMatchObject({ balance: 0, debt: 0 });
  });
});
