// The card auto-recharge charges: saved by a checkout with save_payment_method (its PaymentIntent
// succeeded with setup_future_usage), kept in D1 and on the account's object, the latest save winning.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { account, api, ledger, openAccount, steadyClock } from "./helpers";
import { fakeStripe, PACKAGE, paymentIntentsOf, saveCard, withPackage, type FakePaymentIntent } from "./recharge-helpers";
import { deliver, event } from "./stripe-events";

const enable = (id: string) => api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: PACKAGE.id } });

const cardRow = (id: string) =>
  env.DB.prepare("SELECT customer_id, payment_method FROM stripe_customers WHERE account_id = ?").bind(id).first<{ customer_id: string; payment_method: string | null }>();

beforeAll(withPackage);

describe("saving the card", () => {
  it("a checkout with save_payment_method saves its card; auto-recharge set afterwards finds it", async () => {
    await openAccount("card-checkout", 0);
    const created = await api("POST", "/v1/accounts/card-checkout/checkout-sessions", { body: { package_id: PACKAGE.id, save_payment_method: true } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    // The buyer pays on Stripe's page; Stripe sends both events.
    const paid = await fakeStripe<{ session: Record<string, unknown>; payment_intent: FakePaymentIntent }>(`/__pay/${created.body.id}`, { method: "POST", body: "{}" });
    expect(paid.payment_intent).toMatchObject({ setup_future_usage: "off_session", metadata: { account_id: "card-checkout" } });
    expect((await deliver(event("checkout.session.completed", paid.session))).status).toBe(200);
    expect((await deliver(event("payment_intent.succeeded", { object: "payment_intent", ...paid.payment_intent }))).status).toBe(200);
    expect(await cardRow("card-checkout")).toMatchObject({ payment_method: "pm_card_visa", customer_id: paid.payment_intent.customer });

    const set = await enable("card-checkout");
    expect(set.status).toBe(200);
    expect(set.body.balance).toBe(PACKAGE.credits);
    expect(set.body.auto_recharge).toMatchObject({ has_payment_method: true, held_back: null, status: "idle" });
  });

  it("a checkout without save_payment_method saves nothing", async () => {
    await openAccount("card-none", 0);
    await enable("card-none");
    const pi = { id: "pi_card_none", object: "payment_intent", status: "succeeded", customer: "cus_x", payment_method: "pm_card_visa", setup_future_usage: null, created: 1, metadata: { account_id: "card-none" } };
    expect((await deliver(event("payment_intent.succeeded", pi))).body).toMatchObject({ outcome: expect.stringContaining("ignored") });
    expect(await cardRow("card-none")).toBeNull();
    expect((await account("card-none")).auto_recharge).toMatchObject({ has_payment_method: false, held_back: "no_payment_method" });
  });

  it("a card saved while the balance is already below the threshold charges nothing: it waits for the next crossing", async () => {
    await steadyClock("card-late");
    await openAccount("card-late", 1000);
    const waiting = await enable("card-late");
    expect(waiting.body.auto_recharge).toMatchObject({ has_payment_method: false, held_back: "no_payment_method" });
    expect((await api("POST", "/v1/accounts/card-late/debits", { body: { amount: 600 } })).status).toBe(201);
    expect((await account("card-late")).auto_recharge).toMatchObject({ status: "idle" });

    await saveCard("card-late", "pm_card_visa", "cus_card_late");
    expect((await account("card-late")).auto_recharge).toMatchObject({ status: "idle", has_payment_method: true, held_back: "below_threshold" });
    await runDurableObjectAlarm(ledger("card-late"));
    expect(await paymentIntentsOf("card-late")).toHaveLength(0);

    // Topped up above the threshold, then spent below it: that crossing charges the saved card.
    expect((await api("POST", "/v1/accounts/card-late/grants", { body: { amount: 500 } })).status).toBe(201);
    expect((await api("POST", "/v1/accounts/card-late/debits", { body: { amount: 500 } })).status).toBe(201);
    expect((await account("card-late")).auto_recharge).toMatchObject({ status: "in_flight" });
    await runDurableObjectAlarm(ledger("card-late"));
    expect(await paymentIntentsOf("card-late")).toEqual([expect.objectContaining({ customer: "cus_card_late", payment_method: "pm_card_visa", status: "succeeded" })]);
  });

  it("keeps the card saved last, whatever order Stripe's events arrive in", async () => {
    await steadyClock("card-order");
    await openAccount("card-order", 1000);
    await enable("card-order");
    const now = Math.floor(Date.now() / 1000);
    await saveCard("card-order", "pm_newer", "cus_order", now);
    await saveCard("card-order", "pm_older", "cus_order", now - 60);
    expect(await cardRow("card-order")).toMatchObject({ payment_method: "pm_newer" });
    expect((await api("POST", "/v1/accounts/card-order/debits", { body: { amount: 600 } })).status).toBe(201);
    await runDurableObjectAlarm(ledger("card-order"));
    expect((await paymentIntentsOf("card-order")).map((pi) => pi.payment_method)).toEqual(["pm_newer"]);
  });
});
