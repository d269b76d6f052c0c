// When auto-recharge may charge a card (API.md, "When auto-recharge charges a card"): only on a crossing
// by spending or expiry, at most one charge per crossing, and only if, at the moment the charge is sent
// (and before each retry), auto-recharge is still on, a card is saved, the account is not blocked, the
// balance is still below the threshold and the month's limit allows it. Each test is a way a real user
// was charged when they must not have been.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { setClock } from "./cron-helpers";
import { account, api, ledger, openAccount } from "./helpers";
import { buy, deliverOutcome, PACKAGE, rechargesOf, scriptCard, withPackage } from "./recharge-helpers";
import { charge, deliver, dispute, event } from "./stripe-events";

const HOUR = 3_600_000;
const T = Date.parse("2030-03-10T12:00:00Z");

const enable = (id: string, threshold = 500) =>
  api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold, package_id: PACKAGE.id } });
const debit = async (id: string, amount: number) => expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount } })).status).toBe(201);

/** Runs the object's alarm at `at` (its clock stays there), as the runtime would when it comes due. */
async function alarmAt(id: string, at: number) {
  await setClock(id, at);
  await runDurableObjectAlarm(ledger(id));
}

/** Every call the Worker made to create a PaymentIntent for the account (refused ones too). */
async function chargeCalls(id: string): Promise<{ params: Record<string, string>; outcome: string }[]> {
  const calls = (await (await fetch(`${env.STRIPE_API_BASE}/__calls`)).json()) as { path: string; params: Record<string, string>; outcome: string }[];
  return calls.filter((c) => c.path === "/v1/payment_intents" && c.params["metadata[account_id]"] === id);
}

/**
 * An account with auto-recharge on (threshold 500) and a card saved by a real checkout of 1000
 * credits, both of the checkout's events delivered: available 1000, no charge yet.
 */
async function withSavedCard(id: string, paymentMethod = "pm_card_visa") {
  await setClock(id, T);
  await openAccount(id, 0);
  expect((await enable(id)).status).toBe(200);
  const paid = await buy(id, { save: true, paymentMethod });
  expect(await account(id)).toMatchObject({ balance: PACKAGE.credits, auto_recharge: { has_payment_method: true, status: "idle" } });
  return paid;
}

beforeAll(withPackage);

describe("a card saved by a checkout", () => {
  it("saved before its purchase lands (payment_intent.succeeded first) charges nothing; the next crossing by spending does", async () => {
    const id = "cx-card-first";
    await setClock(id, T);
    await openAccount(id, 0);
    expect((await enable(id)).status).toBe(200);
    // Stripe sends the PaymentIntent's event before the session's: the card arrives at balance 0.
    const paid = await buy(id, { save: true, deliver: ["payment_intent.succeeded"] });
    await alarmAt(id, T + 1);
    expect(await rechargesOf(id)).toHaveLength(0);
    expect((await deliver(event("checkout.session.completed", paid.session))).status).toBe(200);
    await alarmAt(id, T + 2);
    expect(await rechargesOf(id)).toHaveLength(0);
    expect((await account(id)).balance).toBe(PACKAGE.credits);

    await debit(id, 600);
    await alarmAt(id, T + 3);
    expect(await rechargesOf(id)).toHaveLength(1);
  });

  it("turned on while available is already below the threshold charges nothing until spending crosses it", async () => {
    const id = "cx-enable-below";
    await setClock(id, T);
    await openAccount(id, 300);
    await buy(id, { save: true });
    await debit(id, 1000);
    const set = await enable(id);
    expect(set.body.auto_recharge).toMatchObject({ status: "idle", held_back: "below_threshold", message: expect.stringContaining("below") });
    await alarmAt(id, T + 1);
    expect(await rechargesOf(id)).toHaveLength(0);
    // The hosted page tells the user the same, in credits (CREDIT_DECIMALS=2: 500 units are 5.00).
    const link = await api("POST", `/v1/accounts/${id}/portal-sessions`, { body: {} });
    const entered = await exports.default.fetch(link.body.url, { redirect: "manual" });
    const cookie = (entered.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const page = await (await exports.default.fetch("https://credence.test/portal/controls", { headers: { cookie } })).text();
    expect(page).toContain("Your available credits are already below 5.00: it buys the next time your spending takes them from 5.00 or more to below.");
  });
});

describe("a declined charge's retry", () => {
  it("is not sent when the user has since bought credits above the threshold", async () => {
    const id = "cx-retry-bought";
    await scriptCard("pm_cx_retry_bought", ["insufficient_funds"]);
    await withSavedCard(id, "pm_cx_retry_bought");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    expect(await rechargesOf(id)).toEqual([expect.objectContaining({ status: "requires_payment_method" })]);
    await buy(id, {});
    expect((await account(id)).available).toBe(400 + PACKAGE.credits);
    await alarmAt(id, T + 6 * HOUR + 1);
    await alarmAt(id, T + 30 * HOUR + 1);
    expect(await rechargesOf(id)).toHaveLength(1);
    expect((await account(id)).auto_recharge).toMatchObject({ status: "idle", enabled: true });
  });

  it("is cancelled when the user turns auto-recharge off", async () => {
    const id = "cx-retry-off";
    await scriptCard("pm_cx_retry_off", ["insufficient_funds"]);
    await withSavedCard(id, "pm_cx_retry_off");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    const off = await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: false, threshold: 500, package_id: PACKAGE.id } });
    expect(off.body.auto_recharge).toMatchObject({ enabled: false, status: "idle" });
    await alarmAt(id, T + 6 * HOUR + 1);
    expect(await rechargesOf(id)).toHaveLength(1);
  });
});

describe("refunds, disputes and blocks", () => {
  it("a dispute of the purchase that saved the card claws back and blocks, and charges nothing", async () => {
    const id = "cx-dispute";
    const paid = await withSavedCard(id);
    const opened = await deliver(event("charge.dispute.created", dispute("dp_cx_dispute", paid.payment_intent.id, PACKAGE.amount)));
    expect(opened.status).toBe(200);
    expect(await account(id)).toMatchObject({ available: 0, blocked: { reason: expect.any(String) } });
    await alarmAt(id, T + 1);
    expect(await rechargesOf(id)).toHaveLength(0);
  });

  it("a refund that leaves debt charges nothing, however often the alarm runs (no chain of charges paying the debt)", async () => {
    const id = "cx-refund-debt";
    const paid = await withSavedCard(id);
    await debit(id, 400);
    const refunded = await deliver(event("charge.refunded", charge(paid.payment_intent.id, PACKAGE.amount, PACKAGE.amount)));
    expect(refunded.status).toBe(200);
    expect(await account(id)).toMatchObject({ balance: -400, debt: 400 });
    for (let n = 1; n <= 6; n++) {
      await alarmAt(id, T + n * HOUR);
      for (const pi of await rechargesOf(id)) await deliverOutcome(pi);
    }
    expect(await rechargesOf(id)).toHaveLength(0);
    expect((await account(id)).debt).toBe(400);
  });

  it("an operator's block between the crossing and the alarm: nothing is sent", async () => {
    const id = "cx-blocked";
    await withSavedCard(id);
    await debit(id, 600);
    expect((await api("PUT", `/v1/accounts/${id}/block`, { body: { blocked: true, reason: "fraud review" } })).status).toBe(200);
    await alarmAt(id, T + 1);
    expect(await rechargesOf(id)).toHaveLength(0);
  });
});

describe("the plan", () => {
  it("refuses a package whose credits do not exceed the threshold: one charge must lift the account out", async () => {
    const id = "cx-threshold";
    await openAccount(id, 0);
    const res = await enable(id, PACKAGE.credits);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: "invalid_request", field: "threshold" });
    expect((await enable(id, PACKAGE.credits - 1)).status).toBe(200);
  });

  it("a card Stripe no longer has (resource_missing) disables auto-recharge with the reason instead of retrying every 30 s", async () => {
    const id = "cx-detached";
    await scriptCard("pm_cx_detached", ["resource_missing"]);
    await withSavedCard(id, "pm_cx_detached");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    expect((await account(id)).auto_recharge).toMatchObject({ status: "disabled", disabled_reason: expect.stringContaining("resource_missing") });
    await alarmAt(id, T + 1 + 31_000);
    await alarmAt(id, T + 1 + 62_000);
    expect(await chargeCalls(id)).toHaveLength(1);
  });
});
