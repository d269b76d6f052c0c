// POST /v1/accounts/{id}/checkout-sessions against the fake Stripe API (test/fake-stripe), which the
// Worker reaches through STRIPE_API_BASE. Every account here has its own id, so the fake's call log is
// read per account.
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../workers/app";
import { sha256Hex } from "../../workers/http/crypto";
import { ADMIN_KEY, api, freshKey, openAccount } from "./helpers";

interface FakeCall {
  method: string;
  path: string;
  idempotency_key: string | null;
  params: Record<string, string>;
  outcome: "created" | "replayed" | "in_progress" | "idempotency_error" | "error";
}

/** What the fake Stripe API received for this account (customers and sessions both carry its id). */
async function stripeCalls(accountId: string, path?: string): Promise<FakeCall[]> {
  const res = await fetch(`${env.STRIPE_API_BASE}/__calls`);
  const calls = (await res.json()) as FakeCall[];
  return calls.filter((c) => c.params["metadata[account_id]"] === accountId && (path === undefined || c.path === path));
}

const CUSTOMERS = "/v1/customers";
const SESSIONS = "/v1/checkout/sessions";

const checkout = (accountId: string, body: unknown, idem?: string) =>
  api("POST", `/v1/accounts/${accountId}/checkout-sessions`, { body, ...(idem === undefined ? {} : { idem }) });

async function customerRows(accountId: string) {
  const rows = await env.DB.prepare("SELECT * FROM stripe_customers WHERE account_id = ?").bind(accountId).all();
  return rows.results as { account_id: string; customer_id: string }[];
}

beforeAll(async () => {
  const put = async (id: string, body: unknown) => {
    const res = await api("PUT", `/v1/packages/${id}`, { body });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };
  await put("chk_starter", { credits: 1000, price: { amount: 500, currency: "usd" } });
  await put("chk_pro", { credits: 12_345, price: { amount: 4900, currency: "eur" } });
  await put("chk_retired", { credits: 500, price: { amount: 300, currency: "usd" }, active: false });
  await put("stripe-error-pkg", { credits: 100, price: { amount: 100, currency: "usd" } });
});

describe("checkout sessions", () => {
  it("creates a payment-mode session with the account, the package's price and the promised credits", async () => {
    const id = "chk_happy";
    await openAccount(id);
    const idem = freshKey();
    const res = await checkout(id, { package_id: "chk_starter", success_url: "https://app.example/paid?s={CHECKOUT_SESSION_ID}", cancel_url: "https://app.example/shop" }, idem);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["id", "url"]);
    expect(res.body.id).toMatch(/^cs_test_/);
    expect(res.body.url).toBe(`${env.STRIPE_API_BASE}/pay/${res.body.id}`);

    const customers = await stripeCalls(id, CUSTOMERS);
    expect(customers.map((c) => c.outcome)).toEqual(["created"]);
    expect(customers[0]?.idempotency_key).toBe(`credence-customer-${id}`);
    const [stored] = await customerRows(id);
    expect(stored?.customer_id).toMatch(/^cus_test_/);

    const sessions = await stripeCalls(id, SESSIONS);
    expect(sessions).toHaveLength(1);
    const s = sessions[0] as FakeCall;
    expect(s.idempotency_key).toBe(`credence-checkout-${id}-${await sha256Hex(idem)}`);
    expect(s.params).toEqual({
      mode: "payment",
      customer: stored?.customer_id,
      client_reference_id: id,
      "metadata[account_id]": id,
      "metadata[package_id]": "chk_starter",
      "metadata[credits]": "1000",
      "line_items[0][quantity]": "1",
      "line_items[0][price_data][currency]": "usd",
      "line_items[0][price_data][unit_amount]": "500",
      // CREDIT_DECIMALS = 2 (wrangler.toml): 1000 units show as 10.00 credits.
      "line_items[0][price_data][product_data][name]": "10.00 credits",
      "payment_intent_data[metadata][account_id]": id,
      "payment_intent_data[metadata][package_id]": "chk_starter",
      "payment_intent_data[metadata][credits]": "1000",
      success_url: "https://app.example/paid?s={CHECKOUT_SESSION_ID}",
      cancel_url: "https://app.example/shop",
    });

    const purchase = await env.DB.prepare("SELECT * FROM purchases WHERE id = ?").bind(res.body.id).first();
    expect(purchase).toMatchObject({
      account_id: id,
      package_id: "chk_starter",
      credits: 1000,
      amount: 500,
      currency: "usd",
      status: "pending",
      customer: stored?.customer_id,
      payment_intent: null,
      credits_clawed_back: 0,
      amount_refunded: 0,
    });
  });

  it("asks Stripe to keep the card only when save_payment_method is true, and reuses the account's customer", async () => {
    const id = "chk_save";
    await openAccount(id);
    expect((await checkout(id, { package_id: "chk_pro", save_payment_method: true })).status).toBe(201);
    expect((await checkout(id, { package_id: "chk_pro", save_payment_method: false })).status).toBe(201);
    const sessions = await stripeCalls(id, SESSIONS);
    expect(sessions.map((s) => s.params["payment_intent_data[setup_future_usage]"])).toEqual(["off_session", undefined]);
    expect(sessions[0]?.params["line_items[0][price_data][currency]"]).toBe("eur");
    expect(sessions[0]?.params["line_items[0][price_data][unit_amount]"]).toBe("4900");
    expect(sessions[0]?.params["line_items[0][price_data][product_data][name]"]).toBe("123.45 credits");
    expect((await stripeCalls(id, CUSTOMERS)).map((c) => c.outcome)).toEqual(["created"]);
    expect(new Set(sessions.map((s) => s.params.customer)).size).toBe(1);
  });

  it("sends the buyer back to the Worker's own pages when the app names none", async () => {
    const id = "chk_defaults";
    await openAccount(id);
    expect((await checkout(id, { package_id: "chk_starter" })).status).toBe(201);
    const [s] = await stripeCalls(id, SESSIONS);
    expect(s?.params.success_url).toBe("https://credence.test/checkout/success?session_id={CHECKOUT_SESSION_ID}");
    expect(s?.params.cancel_url).toBe("https://credence.test/checkout/cancel");
    // Plain pages (HTML, no API key): api() parses JSON, so they are fetched raw.
    for (const path of ["/checkout/success?session_id=cs_test_x", "/checkout/cancel"]) {
      const res = await exports.default.fetch(`https://credence.test${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/text\/html/);
      await res.text();
    }
  });

  it("refuses an unknown package (404), an inactive one (409) and an unknown account (404), calling no Stripe", async () => {
    const id = "chk_refused";
    await openAccount(id);
    const unknown = await checkout(id, { package_id: "chk_nope" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.type).toBe("package_not_found");
    const inactive = await checkout(id, { package_id: "chk_retired" });
    expect(inactive.status).toBe(409);
    expect(inactive.body.error.type).toBe("package_inactive");
    const noAccount = await checkout("chk_never_opened", { package_id: "chk_starter" });
    expect(noAccount.status).toBe(404);
    expect(noAccount.body.error.type).toBe("account_not_found");
    // Unknown account and unknown package: the account is reported.
    expect((await checkout("chk_never_opened", { package_id: "chk_nope" })).body.error.type).toBe("account_not_found");
    expect(await stripeCalls(id)).toEqual([]);
    expect(await stripeCalls("chk_never_opened")).toEqual([]);
  });

  it("validates the body and requires an Idempotency-Key", async () => {
    const id = "chk_invalid";
    await openAccount(id);
    const cases: [unknown, string][] = [
      [{ package_id: "chk_starter", success_url: "javascript:alert(1)" }, "success_url"],
      [{ package_id: "chk_starter", cancel_url: "ftp://example.com/x" }, "cancel_url"],
      [{ package_id: "chk_starter", cancel_url: "not a url" }, "cancel_url"],
      [{ package_id: "chk_starter", save_payment_method: "yes" }, "save_payment_method"],
      [{ package_id: "chk_starter", quantity: 2 }, "quantity"],
      [{}, "package_id"],
    ];
    for (const [body, field] of cases) {
      const res = await checkout(id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.field).toBe(field);
    }
    const noKey = await checkout(id, { package_id: "chk_starter" }, null as unknown as string);
    expect(noKey.status).toBe(400);
    expect(noKey.body.error.type).toBe("idempotency_key_required");
    const readOnly = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    expect(readOnly.status).toBe(201);
    const forbidden = await api("POST", `/v1/accounts/${id}/checkout-sessions`, { key: readOnly.body.key, body: { package_id: "chk_starter" } });
    expect(forbidden.status).toBe(403);
    expect(await stripeCalls(id)).toEqual([]);
  });

  it("creates one Stripe customer for concurrent first checkouts of one account", async () => {
    const id = "chk_race";
    await openAccount(id);
    const answers = await Promise.all(Array.from({ length: 5 }, () => checkout(id, { package_id: "chk_starter" })));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(5);

    const customers = await stripeCalls(id, CUSTOMERS);
    expect(customers.filter((c) => c.outcome === "created")).toHaveLength(1);
    expect(customers.every((c) => c.idempotency_key === `credence-customer-${id}`)).toBe(true);
    const rows = await customerRows(id);
    expect(rows).toHaveLength(1);
    const sessions = (await stripeCalls(id, SESSIONS)).filter((s) => s.outcome === "created");
    expect(sessions).toHaveLength(5);
    expect(sessions.every((s) => s.params.customer === rows[0]?.customer_id)).toBe(true);
  });

  it("answers the same Idempotency-Key with the same session, created once at Stripe", async () => {
    const id = "chk_idem";
    await openAccount(id);
    const idem = freshKey();
    const first = await checkout(id, { package_id: "chk_starter" }, idem);
    const again = await checkout(id, { package_id: "chk_starter" }, idem);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const sessions = await stripeCalls(id, SESSIONS);
    expect(sessions.map((s) => s.outcome)).toEqual(["created", "replayed"]);
    const rows = await env.DB.prepare("SELECT id FROM purchases WHERE account_id = ?").bind(id).all();
    expect(rows.results).toEqual([{ id: first.body.id }]);

    // Concurrent retries of one request: still one session.
    const idem2 = freshKey();
    const pair = await Promise.all([1, 2, 3].map(() => checkout(id, { package_id: "chk_pro" }, idem2)));
    expect(pair.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(new Set(pair.map((a) => a.body.id)).size).toBe(1);

    // The same key for another request is a conflict, not a second session.
    const conflict = await checkout(id, { package_id: "chk_pro" }, idem);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.type).toBe("idempotency_conflict");
    expect((await stripeCalls(id, SESSIONS)).filter((s) => s.outcome === "created")).toHaveLength(2);
  });

  it("passes Stripe's refusal on as 502 payment_provider_error, recording nothing", async () => {
    const id = "chk_stripe_error";
    await openAccount(id);
    const res = await checkout(id, { package_id: "stripe-error-pkg" });
    expect(res.status).toBe(502);
    expect(res.body.error.type).toBe("payment_provider_error");
    expect(res.body.error.message).toContain("Fake Stripe refused this session");
    const rows = await env.DB.prepare("SELECT id FROM purchases WHERE account_id = ?").bind(id).all();
    expect(rows.results).toEqual([]);
  });

  it("answers 503 payments_not_configured when no Stripe key is set, calling no Stripe", async () => {
    const id = "chk_no_key";
    await openAccount(id);
    const app = createApp();
    const withoutKey = { ...env, STRIPE_SECRET_KEY: undefined };
    // (In development the local test checkout answers instead: local-checkout.test.ts.)
    for (const environment of [undefined, "production", "staging"]) {
      const res = await app.request(
        `https://credence.test/v1/accounts/${id}/checkout-sessions`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", "idempotency-key": freshKey() },
          body: JSON.stringify({ package_id: "chk_starter" }),
        },
        { ...withoutKey, ENVIRONMENT: environment },
      );
      const body = (await res.json()) as { error: { type: string; message: string } };
      expect(res.status, JSON.stringify(body)).toBe(503);
      expect(body.error.type).toBe("payments_not_configured");
      expect(body.error.message).toContain("STRIPE_SECRET_KEY");
    }
    expect(await stripeCalls(id)).toEqual([]);
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = await api("GET", "/openapi.json");
    const op = doc.body.paths["/v1/accounts/{id}/checkout-sessions"]?.post;
    expect(op).toBeDefined();
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["201", "404", "409", "502", "503"]));
  });
});
