// Auto-recharge (issue 10, work in progress): the setting and the trigger inside the debit's transaction.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { account, api, ledger, openAccount } from "./helpers";

async function withPackage(): Promise<void> {
  const res = await api("PUT", "/v1/packages/ar-starter", { body: { credits: 1000, price: { amount: 500, currency: "usd" } } });
  expect(res.status).toBe(200);
}

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
  it("a burst of 100 concurrent debits crossing the threshold marks exactly one charge in flight", async () => {
    await withPackage();
    await openAccount("ar-burst", 1000);
    const plan = { threshold: 500, packageId: "ar-starter", credits: 1000, amount: 500, currency: "usd", monthlyLimit: null };
    const set = await ledger("ar-burst").setAutoRecharge({ enabled: true, plan, card: { customer: "cus_1", paymentMethod: "pm_1" } });
    expect(set.status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 100 }, () => api("POST", "/v1/accounts/ar-burst/debits", { body: { amount: 7 } })));
    expect(answers.every((a) => a.status === 201)).toBe(true);
    const body = await account("ar-burst");
    expect(body.balance).toBe(300);
    expect(body.auto_recharge).toMatchObject({ status: "in_flight", has_payment_method: true, held_back: null });
    expect(body.auto_recharge.last_attempt_at).not.toBeNull();
    // One attempt, whatever the number of debits below the threshold while it is in flight.
    const stored = await runInDurableObject(ledger("ar-burst"), (_i, state) =>
      JSON.parse(state.storage.sql.exec("SELECT auto_recharge FROM account").one().auto_recharge as string),
    );
    expect(stored).toMatchObject({ attempts: 1, inFlight: { number: 1, tries: 1 } });
  });
});
