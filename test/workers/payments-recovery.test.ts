// Charged ⇒ credited: the hourly pass lists what Stripe (the fake API) says was paid and applies what
// no webhook applied, once, even when the webhook then arrives; each repair shows in admin health.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { catchUpPayments, latestPass, paymentsPassFrom, RECONCILE_CRON, runCron } from "./cron-helpers";
import { account, api, ledger, openAccount, steadyClock } from "./helpers";
import { fakeStripe, PACKAGE, paymentIntentsOf, saveCard, scriptCard, withPackage, type FakePaymentIntent } from "./recharge-helpers";
import { deliver, event } from "./stripe-events";

/** The hourly invocation, with no grace: every payment made so far is old enough for the pass. */
const hourlyPass = (overrides: Record<string, string> = {}) => runCron(Date.now(), RECONCILE_CRON, { PAYMENT_RECOVERY_GRACE_SECONDS: "0", ...overrides });

const repairOf = (stripeObject: string) => env.DB.prepare("SELECT * FROM payment_repairs WHERE stripe_object = ?").bind(stripeObject).first<Record<string, string | number>>();

const lotsFrom = async (id: string, source: string) => (await account(id)).lots.filter((l: { source: string }) => l.source === source);

/** An account whose auto-recharge Stripe charged (the alarm sent it), with no webhook delivered. */
async function chargedWithoutWebhook(id: string): Promise<FakePaymentIntent> {
  await steadyClock(id);
  await openAccount(id, 1000);
  expect((await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: PACKAGE.id } })).status).toBe(200);
  await saveCard(id, "pm_card_visa");
  expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 600 } })).status).toBe(201);
  await runDurableObjectAlarm(ledger(id));
  const [pi] = await paymentIntentsOf(id);
  expect(pi).toMatchObject({ status: "succeeded" });
  expect((await account(id)).balance).toBe(400);
  return pi!;
}

beforeAll(withPackage);
beforeEach(() => paymentsPassFrom());

describe("the charged ⇒ credited pass", () => {
  it("credits an auto-recharge whose webhook never arrived, once, even when the webhook then arrives", async () => {
    const pi = await chargedWithoutWebhook("rec-recharge");
    await catchUpPayments();
    expect(await account("rec-recharge")).toMatchObject({ balance: 1400, auto_recharge: { status: "idle", charged_this_month: 500 } });
    const repair = await repairOf(pi.id);
    expect(repair).toMatchObject({ kind: "auto_recharge", account_id: "rec-recharge", credits: 1000, amount: 500, outcome: "credited: auto_recharge" });
    const health = await api("GET", "/v1/admin/health");
    expect(health.body.payments.recent_repairs).toContainEqual(expect.objectContaining({ stripe_object: pi.id, kind: "auto_recharge", account_id: "rec-recharge" }));
    expect(health.body.payments.last_pass).toMatchObject({ repaired: expect.any(Number), failures: 0 });
    expect(health.body.payments.repaired_last_7_days).toBeGreaterThanOrEqual(1);

    // The lost webhook turns up after all, and the next pass looks again: still one credit.
    expect((await deliver(event("payment_intent.succeeded", { object: "payment_intent", ...pi }))).status).toBe(200);
    await catchUpPayments();
    expect((await account("rec-recharge")).balance).toBe(1400);
    expect(await lotsFrom("rec-recharge", "auto_recharge")).toHaveLength(1);
    expect((await repairOf(pi.id))?.run_id).toBe(repair?.run_id);
  });

  it("credits a paid checkout whose webhook never arrived, and saves the card it was asked to save", async () => {
    await openAccount("rec-checkout", 0);
    const created = await api("POST", "/v1/accounts/rec-checkout/checkout-sessions", { body: { package_id: PACKAGE.id, save_payment_method: true } });
    expect(created.status).toBe(201);
    const paid = await fakeStripe<{ session: Record<string, unknown>; payment_intent: FakePaymentIntent }>(`/__pay/${created.body.id}`, { method: "POST", body: "{}" });
    await catchUpPayments();
    expect((await account("rec-checkout")).balance).toBe(PACKAGE.credits);
    const purchase = await env.DB.prepare("SELECT status, lot_id FROM purchases WHERE id = ?").bind(created.body.id).first();
    expect(purchase).toMatchObject({ status: "paid", lot_id: expect.any(String) });
    expect(await repairOf(created.body.id)).toMatchObject({ kind: "checkout_session", outcome: "credited" });
    expect(await repairOf(paid.payment_intent.id)).toMatchObject({ kind: "saved_card", outcome: "card_saved" });
    const enabled = await api("PUT", "/v1/accounts/rec-checkout/auto-recharge", { body: { enabled: true, threshold: 1, package_id: PACKAGE.id } });
    expect(enabled.body.auto_recharge).toMatchObject({ has_payment_method: true });

    expect((await deliver(event("checkout.session.completed", paid.session))).status).toBe(200);
    expect((await account("rec-checkout")).balance).toBe(PACKAGE.credits);
    expect(await lotsFrom("rec-checkout", "purchase")).toHaveLength(1);
  });

  it("leaves a payment younger than the grace to its webhook", async () => {
    const pi = await chargedWithoutWebhook("rec-young");
    await hourlyPass({ PAYMENT_RECOVERY_GRACE_SECONDS: "600" });
    // The pass did run (and finished): it only left this payment alone.
    expect(await latestPass("payments")).toMatchObject({ finished_at: expect.any(Number), failures: 0 });
    expect((await account("rec-young")).balance).toBe(400);
    expect(await repairOf(pi.id)).toBeNull();
  });

  it("when Stripe cannot be reached, the pass says so and the next one covers the same window", async () => {
    const pi = await chargedWithoutWebhook("rec-outage");
    await hourlyPass({ STRIPE_API_BASE: "http://127.0.0.1:9" });
    expect(await latestPass("payments")).toMatchObject({ failures: 1 });
    expect((await account("rec-outage")).balance).toBe(400);
    await catchUpPayments();
    expect((await account("rec-outage")).balance).toBe(1400);
    expect(await repairOf(pi.id)).toMatchObject({ outcome: "credited: auto_recharge" });
  });

  it("a failed charge whose payment_failed webhook was lost does not leave the attempt in flight for good", async () => {
    const id = "rec-failed";
    await scriptCard("pm_rec_later", ["processing"]);
    await steadyClock(id);
    await openAccount(id, 1000);
    await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: PACKAGE.id } });
    await saveCard(id, "pm_rec_later");
    expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 600 } })).status).toBe(201);
    await runDurableObjectAlarm(ledger(id));
    const [pi] = await paymentIntentsOf(id);
    expect(pi).toMatchObject({ status: "processing" });
    // Stripe declines it later, and its webhook never arrives.
    await fakeStripe(`/__fail/${pi!.id}`, { method: "POST", body: JSON.stringify({ code: "insufficient_funds" }) });
    await catchUpPayments();
    const after = await runInDurableObject(ledger(id), (_i, state) => JSON.parse(state.storage.sql.exec("SELECT auto_recharge FROM account").one().auto_recharge as string));
    expect(after).toMatchObject({ status: "in_flight", inFlight: { number: 1, tries: 2 } });
  });
});
