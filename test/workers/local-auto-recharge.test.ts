// Auto-recharge on a laptop, as `npm run dev` runs it (ENVIRONMENT=development, no Stripe key): the
// local test checkout saves a test card, and the object's alarm "charges" it with the local stand-in,
// whose success reaches the real webhook as a signed payment_intent.succeeded.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { createApp } from "../../workers/app";
import { ADMIN_KEY, account, api, eventually, ledger, openAccount, steadyClock } from "./helpers";

const app = createApp();
type Target = Omit<typeof env, "STRIPE_SECRET_KEY"> & { ENVIRONMENT?: string; STRIPE_SECRET_KEY?: string };
const DEV: Target = { ...env, ENVIRONMENT: "development", STRIPE_SECRET_KEY: undefined };

function call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  return app.request(`https://credence.test${path}`, { method, redirect: "manual", ...init }, DEV);
}

const json = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };

/** The object as `npm run dev` runs it: its env is the development one. */
async function developmentObject(id: string) {
  await runInDurableObject(ledger(id), (instance: AccountLedger) => {
    (instance as unknown as { env: Target }).env = DEV;
  });
}

/** Buys the package through the local test checkout, saving the chosen test card. */
async function buyAndSave(id: string, card: string) {
  const created = await call("POST", `/v1/accounts/${id}/checkout-sessions`, {
    body: JSON.stringify({ package_id: "lar-pack", save_payment_method: true }),
    headers: { ...json, "idempotency-key": `lar-${id}` },
  });
  expect(created.status).toBe(201);
  const url = new URL(((await created.json()) as { url: string }).url);
  const html = await (await call("GET", url.pathname + url.search)).text();
  expect(html).toMatch(/Test card to save for auto-recharge/);
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) {
    form.set(m[1] as string, (m[2] as string).replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))));
  }
  form.set("card", card);
  const paid = await call("POST", `${url.pathname}/pay`, { body: form.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
  expect(paid.status).toBe(303);
}

async function readyToRecharge(id: string, card: string) {
  await api("PUT", "/v1/packages/lar-pack", { body: { credits: 1000, price: { amount: 500, currency: "usd" } } });
  await steadyClock(id);
  await openAccount(id, 0);
  await developmentObject(id);
  await buyAndSave(id, card);
  const set = await call("PUT", `/v1/accounts/${id}/auto-recharge`, { body: JSON.stringify({ enabled: true, threshold: 500, package_id: "lar-pack" }), headers: json });
  expect(set.status).toBe(200);
  expect(((await set.json()) as { auto_recharge: unknown }).auto_recharge).toMatchObject({ has_payment_method: true, held_back: null });
  expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 600 } })).status).toBe(201);
  await runDurableObjectAlarm(ledger(id));
}

describe("auto-recharge with the local test checkout", () => {
  it("the saved test card is charged by the local stand-in and credited through the signed webhook, once", async () => {
    await readyToRecharge("lar-visa", "pm_card_visa");
    const topped = await eventually(() => account("lar-visa"), (a) => a.balance === 1400);
    expect(topped).toMatchObject({ balance: 1400, auto_recharge: { status: "idle", charged_this_month: 500 } });
    expect(topped.lots.filter((l: { source: string }) => l.source === "auto_recharge")).toHaveLength(1);
    // The webhook credits the account first and records the purchase after: wait for the row too.
    const purchaseRow = () => env.DB.prepare("SELECT id, status, credits FROM purchases WHERE account_id = 'lar-visa' AND id LIKE 'pi_local_ar_%'").first();
    const purchase = await eventually(purchaseRow, (row) => row !== null);
    expect(purchase).toMatchObject({ status: "paid", credits: 1000 });
    const customer = await env.DB.prepare("SELECT customer_id, payment_method FROM stripe_customers WHERE account_id = 'lar-visa'").first();
    expect(customer).toEqual({ customer_id: "cus_local_lar-visa", payment_method: "pm_card_visa" });
  });

  it("the 3-D Secure test card disables auto-recharge with the reason", async () => {
    await readyToRecharge("lar-3ds", "pm_card_authenticationRequired");
    expect((await account("lar-3ds")).auto_recharge).toMatchObject({ status: "disabled", disabled_reason: "authentication_required" });
    expect((await account("lar-3ds")).balance).toBe(400);
  });
});
