// Auto-recharge against the fake Stripe API: the setting, the trigger inside the debit's transaction,
// the charge the object's alarm sends, and the outcome the webhook brings.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { account, api, ledger, openAccount, steadyClock } from "./helpers";
import { deliverOutcome, paymentIntentsOf, saveCard, withPackage } from "./recharge-helpers";
import { deliver, event } from "./stripe-events";

describe("PUT /v1/accounts/{id}/auto-recharge", () => {
  it("shows the setting, and says it waits for a saved card", async () => {
    await withPackage();
    await openAccount("ar-setting", 500);
    const res = await api("PUT", "/v1/accounts/ar-setting/auto-recharge", { body: { enabled: true, threshold: 100, package_id: "ar-starter", monthly_limit: 1500 } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.auto_recharge).toMatchObject({
      enabled: true,
      threshold: 100,
      package_id: "ar-starter",
      monthly_limit: 1500,
      charged_this_month: 0,
      has_payment_method: false,
      status: "idle",
      disabled_reason: null,
      held_back: "no_payment_method",
      held_back_until: null,
      message: "Auto-recharge starts working after the next checkout with save_payment_method: true.",
      last_attempt_at: null,
    });
  });

  it("refuses an unknown or retired package, naming the field", async () => {
    await openAccount("ar-bad", 10);
    const unknown = await api("PUT", "/v1/accounts/ar-bad/auto-recharge", { body: { enabled: true, threshold: 1, package_id: "nope" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ type: "invalid_request", field: "package_id" });
    await api("PUT", "/v1/packages/ar-retired", { body: { credits: 10, price: { amount: 100, currency: "usd" }, active: false } });
    const retired = await api("PUT", "/v1/accounts/ar-bad/auto-recharge", { body: { enabled: true, threshold: 1, package_id: "ar-retired" } });
    expect(retired.status).toBe(400);
    expect((await account("ar-bad")).auto_recharge).toBeNull();
  });
});

describe("the trigger", () => {
  it("a burst of 100 concurrent debits crossing the threshold makes exactly one PaymentIntent; after its webhook, the next crossing makes the next", async () => {
    await withPackage();
    // The object's clock runs in 2030: its alarms never come due on their own; the test runs them.
    await steadyClock("ar-burst");
    await openAccount("ar-burst", 1000);
    expect((await api("PUT", "/v1/accounts/ar-burst/auto-recharge", { body: { enabled: true, threshold: 500, package_id: "ar-starter" } })).status).toBe(200);
    await saveCard("ar-burst", "pm_card_visa");
    const answers = await Promise.all(Array.from({ length: 100 }, () => api("POST", "/v1/accounts/ar-burst/debits", { body: { amount: 7 } })));
    expect(answers.every((a) => a.status === 201)).toBe(true);
    const body = await account("ar-burst");
    expect(body.balance).toBe(300);
    expect(body.auto_recharge).toMatchObject({ status: "in_flight", has_payment_method: true, held_back: null });
    expect(body.auto_recharge.last_attempt_at).not.toBeNull();
    // The alarm sends the one attempt, however many debits were below the threshold while it was due.
    await runDurableObjectAlarm(ledger("ar-burst"));
    await runDurableObjectAlarm(ledger("ar-burst"));
    const [first, ...others] = await paymentIntentsOf("ar-burst");
    expect(others).toHaveLength(0);
    expect(first).toMatchObject({ status: "succeeded", amount: 500, payment_method: "pm_card_visa", customer: "cus_ar-burst", metadata: { attempt: "1" } });
    await deliverOutcome(first!);
    expect(await account("ar-burst")).toMatchObject({ balance: 1300, auto_recharge: { status: "idle", charged_this_month: 500 } });
    // Above the threshold again; the next crossing is a new attempt.
    expect((await api("POST", "/v1/accounts/ar-burst/debits", { body: { amount: 801 } })).status).toBe(201);
    await runDurableObjectAlarm(ledger("ar-burst"));
    const all = await paymentIntentsOf("ar-burst");
    expect(all.map((pi) => pi.metadata.attempt)).toEqual(["1", "2"]);
  });
});

interface StripeCall {
  path: string;
  idempotency_key: string | null;
  params: Record<string, string>;
  outcome: string;
}

async function paymentIntentCalls(accountId: string): Promise<StripeCall[]> {
  const res = await fetch(`${env.STRIPE_API_BASE}/__calls`);
  const calls = (await res.json()) as StripeCall[];
  return calls.filter((c) => c.path === "/v1/payment_intents" && c.params["metadata[account_id]"] === accountId);
}

const stored = (id: string) =>
  runInDurableObject(ledger(id), (_i, state) => JSON.parse(state.storage.sql.exec("SELECT auto_recharge FROM account").one().auto_recharge as string));

async function belowThreshold(id: string, paymentMethod: string) {
  await withPackage();
  await steadyClock(id);
  await openAccount(id, 1000);
  expect((await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: "ar-starter" } })).status).toBe(200);
  await saveCard(id, paymentMethod);
  expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 600 } })).status).toBe(201);
}

describe("the charge (the object's alarm → Stripe)", () => {
  it("sends one off-session PaymentIntent under the try's key, and does not send it again", async () => {
    await belowThreshold("ar-charge", "pm_card_visa");
    await runDurableObjectAlarm(ledger("ar-charge"));
    await runDurableObjectAlarm(ledger("ar-charge"));
    const calls = await paymentIntentCalls("ar-charge");
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      // Named by the attempt's own random reference (no other deployment can reuse it), and the try.
      idempotency_key: `auto_recharge:${(await stored("ar-charge")).inFlight.terms.ref}:1`,
      outcome: "created",
      params: expect.objectContaining({ amount: "500", currency: "usd", off_session: "true", confirm: "true", "metadata[kind]": "auto_recharge", "metadata[credits]": "1000" }),
    });
    expect(await stored("ar-charge")).toMatchObject({ status: "in_flight", inFlight: { number: 1, tries: 1, nextTryAt: null } });
  });

  it("after a crash between Stripe accepting and the object recording, the retry reuses the key: one charge", async () => {
    await belowThreshold("ar-crash", "pm_card_visa");
    // The alarm's third transaction (after settling, and deciding to send: the one recording that
    // Stripe has the try) fails once.
    await runInDurableObject(ledger("ar-crash"), (instance: Record<string, unknown>) => {
      const mutate = (instance.mutate as (...args: unknown[]) => Promise<unknown>).bind(instance);
      let calls = 0;
      instance.mutate = (...args: unknown[]) => (++calls === 3 ? Promise.reject(new Error("test: crashed after Stripe accepted")) : mutate(...args));
    });
    await runDurableObjectAlarm(ledger("ar-crash"));
    expect(await stored("ar-crash")).toMatchObject({ inFlight: { tries: 1, nextTryAt: expect.any(Number) } });
    await runDurableObjectAlarm(ledger("ar-crash"));
    const calls = await paymentIntentCalls("ar-crash");
    expect(calls.map((c) => [c.idempotency_key, c.outcome])).toEqual([
      [`auto_recharge:${(await stored("ar-crash")).inFlight.terms.ref}:1`, "created"],
      [`auto_recharge:${(await stored("ar-crash")).inFlight.terms.ref}:1`, "replayed"],
    ]);
    expect(await stored("ar-crash")).toMatchObject({ inFlight: { tries: 1, nextTryAt: null } });
  });

  it("a declined card is tried again 6 hours later, under the next try's key", async () => {
    await belowThreshold("ar-declined", "pm_card_chargeDeclined");
    await runDurableObjectAlarm(ledger("ar-declined"));
    const after = await stored("ar-declined");
    expect(after).toMatchObject({ status: "in_flight", inFlight: { number: 1, tries: 2 } });
    const now = await runInDurableObject(ledger("ar-declined"), (instance: AccountLedger) => instance.clock());
    expect(after.inFlight.nextTryAt - now).toBeGreaterThan(6 * 3600_000 - 60_000);
    expect(after.inFlight.nextTryAt - now).toBeLessThanOrEqual(6 * 3600_000);
    expect((await paymentIntentCalls("ar-declined")).map((c) => c.idempotency_key)).toEqual([`auto_recharge:${after.inFlight.terms.ref}:1`]);
  });

  it("a card that needs its holder disables auto-recharge with the reason", async () => {
    await belowThreshold("ar-3ds", "pm_card_authenticationRequired");
    await runDurableObjectAlarm(ledger("ar-3ds"));
    expect((await account("ar-3ds")).auto_recharge).toMatchObject({ status: "disabled", disabled_reason: "authentication_required" });
  });
});

/** The metadata the account's alarm sent with its charge (its reference included), as Stripe echoes it. */
async function sentMetadata(accountId: string): Promise<Record<string, string>> {
  const [sent] = (await paymentIntentCalls(accountId)).slice(-1);
  return Object.fromEntries(Object.entries(sent?.params ?? {}).flatMap(([k, v]) => (k.startsWith("metadata[") ? [[k.slice(9, -1), v]] : [])));
}

const paymentIntent = (id: string, accountId: string, status: string, over: Record<string, unknown> = {}) => ({
  id,
  object: "payment_intent",
  amount: 500,
  amount_received: status === "succeeded" ? 500 : 0,
  currency: "usd",
  customer: "cus_test",
  status,
  last_payment_error: null,
  metadata: { kind: "auto_recharge", account_id: accountId, package_id: "ar-starter", credits: "1000", attempt: "1", try: "1" },
  ...over,
});

describe("the outcome (the webhook)", () => {
  it("payment_intent.succeeded credits the package once however often it is delivered, and the account goes back to idle", async () => {
    await belowThreshold("ar-paid", "pm_card_visa");
    await runDurableObjectAlarm(ledger("ar-paid"));
    const pi = paymentIntent("pi_ar_paid", "ar-paid", "succeeded", { metadata: await sentMetadata("ar-paid") });
    const answers = await Promise.all([deliver(event("payment_intent.succeeded", pi)), deliver(event("payment_intent.succeeded", pi))]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    await deliver(event("payment_intent.succeeded", pi));
    const body = await account("ar-paid");
    expect(body.balance).toBe(400 + 1000);
    expect(body.lots.filter((l: { source: string }) => l.source === "auto_recharge")).toHaveLength(1);
    expect(body.auto_recharge).toMatchObject({ status: "idle", charged_this_month: 500 });
    const purchase = await env.DB.prepare("SELECT status, credits, amount, lot_id FROM purchases WHERE id = 'pi_ar_paid'").first();
    expect(purchase).toMatchObject({ status: "paid", credits: 1000, amount: 500 });
  });

  it("payment_intent.payment_failed after the alarm's own decline changes nothing more; authentication_required disables", async () => {
    await belowThreshold("ar-webhook-fail", "pm_card_visa");
    await runDurableObjectAlarm(ledger("ar-webhook-fail"));
    const failed = paymentIntent("pi_ar_fail", "ar-webhook-fail", "requires_payment_method", { last_payment_error: { code: "card_declined" }, metadata: await sentMetadata("ar-webhook-fail") });
    expect((await deliver(event("payment_intent.payment_failed", failed))).status).toBe(200);
    expect(await stored("ar-webhook-fail")).toMatchObject({ status: "in_flight", inFlight: { tries: 2 } });
    // The same failure again: the try it names is no longer the current one.
    await deliver(event("payment_intent.payment_failed", failed));
    expect(await stored("ar-webhook-fail")).toMatchObject({ inFlight: { tries: 2 } });
    const auth = paymentIntent("pi_ar_auth", "ar-webhook-fail", "requires_action", { last_payment_error: { code: "authentication_required" }, metadata: { ...failed.metadata, try: "2" } });
    await deliver(event("payment_intent.payment_failed", auth));
    expect((await account("ar-webhook-fail")).auto_recharge).toMatchObject({ status: "disabled", disabled_reason: "authentication_required" });
  });
});
