import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../workers/app";
import { ADMIN_KEY, api, openAccount } from "./helpers";

// The local test checkout, as `npm run dev` runs it: ENVIRONMENT=development and no Stripe key.
const app = createApp();
type Target = Omit<typeof env, "STRIPE_SECRET_KEY"> & { ENVIRONMENT?: string; STRIPE_SECRET_KEY?: string };
const DEV: Target = { ...env, ENVIRONMENT: "development", STRIPE_SECRET_KEY: undefined };
const PROD: Target = { ...env, STRIPE_SECRET_KEY: undefined };

function call(target: Target, method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  return app.request(`https://credence.test${path}`, { method, redirect: "manual", ...init }, target);
}

const checkoutBody = JSON.stringify({ package_id: "lc-starter", success_url: "https://app.example/done?s={CHECKOUT_SESSION_ID}", cancel_url: "https://app.example/cancel" });
const startCheckout = (target: Target, id: string, idem: string) =>
  call(target, "POST", `/v1/accounts/${id}/checkout-sessions`, {
    body: checkoutBody,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", "idempotency-key": idem },
  });

/** The hidden fields of the page's Pay form, as a browser would post them. */
function payForm(html: string): URLSearchParams {
  const fields = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) {
    fields.set(m[1] as string, (m[2] as string).replace(/&#(\d+);/g, (_x, code: string) => String.fromCharCode(Number(code))));
  }
  return fields;
}

describe("the local test checkout (development, no Stripe key)", () => {
  it("buys starter end to end: the balance rises by exactly its credits once, even when Pay is posted twice", async () => {
    await api("PUT", "/v1/packages/lc-starter", { body: { credits: 1000, price: { amount: 500, currency: "usd" } } });
    const ID = "lc-buyer";
    await openAccount(ID);
    const created = await startCheckout(DEV, ID, "lc-1");
    expect(created.status).toBe(201);
    const session = (await created.json()) as { id: string; url: string };
    expect(session.url).toMatch(/^https:\/\/credence\.test\/checkout\/local\/cs_local_/);
    // The same request again is the same session.
    expect(((await (await startCheckout(DEV, ID, "lc-1")).json()) as { id: string }).id).toBe(session.id);

    const pageRes = await call(DEV, "GET", new URL(session.url).pathname + new URL(session.url).search);
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    const html = await pageRes.text();
    expect(html).toMatch(/Test checkout/);
    expect(html).toMatch(/5\.00 USD/);
    const form = payForm(html);
    expect(form.get("csrf")).toMatch(/^[0-9a-f]{64}$/);

    const pay = () => call(DEV, "POST", `/checkout/local/${session.id}/pay`, { body: form.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
    const first = await pay();
    expect(first.status).toBe(303);
    expect(first.headers.get("location")).toBe(`https://app.example/done?s=${session.id}`);
    expect((await pay()).status).toBe(303);
    const a = (await api("GET", `/v1/accounts/${ID}`)).body;
    expect(a.balance).toBe(1000);
    expect(a.lots).toEqual([expect.objectContaining({ source: "purchase", amount: 1000 })]);
    const purchases = await api("GET", `/v1/accounts/${ID}/purchases`);
    expect(purchases.body.data).toEqual([expect.objectContaining({ id: session.id, status: "paid", credits: 1000 })]);
  });

  it("refuses a Pay without the page's CSRF token", async () => {
    const ID = "lc-csrf";
    await openAccount(ID);
    const session = (await (await startCheckout(DEV, ID, "lc-csrf-1")).json()) as { id: string; url: string };
    const form = payForm(await (await call(DEV, "GET", new URL(session.url).pathname + new URL(session.url).search)).text());
    form.set("csrf", "0".repeat(64));
    const res = await call(DEV, "POST", `/checkout/local/${session.id}/pay`, { body: form.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(400);
    expect((await api("GET", `/v1/accounts/${ID}`)).body.balance).toBe(0);
  });
});

describe("the local test checkout's price, in Stripe's units", () => {
  it("JPY has no decimals, ISK two (shown only when there are some), KWD three", async () => {
    const ID = "lc-currencies";
    await openAccount(ID);
    const cases = [
      { id: "lc-jpy", price: { amount: 500, currency: "jpy" }, shown: "500 JPY" },
      { id: "lc-isk", price: { amount: 50_000, currency: "isk" }, shown: "500 ISK" },
      { id: "lc-kwd", price: { amount: 1234, currency: "kwd" }, shown: "1.234 KWD" },
    ];
    for (const c of cases) {
      await api("PUT", `/v1/packages/${c.id}`, { body: { credits: 1000, price: c.price } });
      const created = await call(DEV, "POST", `/v1/accounts/${ID}/checkout-sessions`, {
        body: JSON.stringify({ package_id: c.id, success_url: "https://app.example/done", cancel_url: "https://app.example/cancel" }),
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", "idempotency-key": `lc-currency-${c.id}` },
      });
      expect(created.status, c.id).toBe(201);
      const url = new URL(((await created.json()) as { url: string }).url);
      const html = await (await call(DEV, "GET", url.pathname + url.search)).text();
      expect(html, c.id).toContain(`, ${c.shown}.</p>`);
      expect(html, c.id).toContain(`Pay ${c.shown} (test)`);
    }
  });
});

describe("outside development, with no Stripe key", () => {
  it("checkout is 503 payments_not_configured and the local page does not exist", async () => {
    await api("PUT", "/v1/packages/lc-starter", { body: { credits: 1000, price: { amount: 500, currency: "usd" } } });
    await openAccount("lc-prod");
    const res = await startCheckout(PROD, "lc-prod", "lc-prod-1");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("payments_not_configured");
    // A session made in development is unreachable once the environment is anything else.
    const session = (await (await startCheckout(DEV, "lc-prod", "lc-prod-2")).json()) as { id: string; url: string };
    const path = new URL(session.url).pathname + new URL(session.url).search;
    expect((await call(PROD, "GET", path)).status).toBe(404);
    expect((await call({ ...DEV, ENVIRONMENT: "production" }, "POST", `/checkout/local/${session.id}/pay`, { body: "" })).status).toBe(404);
  });
});
