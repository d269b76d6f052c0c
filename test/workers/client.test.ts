import { beforeAll, describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConnectionError,
  CredenceError,
  HoldNotActiveError,
  IdempotencyConflictError,
  InsufficientCreditsError,
  NotFoundError,
  PermissionError,
  RateLimitedError,
  SpendingBlockedError,
  SpendingLimitError,
  ValidationError,
  verifyCredenceSignature,
  type FetchLike,
} from "../../client/src/index";
import { signatureHeader } from "../../workers/webhooks/signature";
import { adminClient, worker } from "./client-helpers";
import { account, flush } from "./helpers";

const client = adminClient;

let n = 0;
const fresh = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++n}`;

async function opened(credits: number): Promise<string> {
  const id = fresh("cl");
  const c = client();
  await c.accounts.upsert(id, { name: `Client ${id}` });
  if (credits > 0) await c.grants.create(id, { amount: credits });
  return id;
}

/** Records every request the client sends, then passes it to the Worker. */
function recording(inner: FetchLike = worker) {
  const seen: { method: string; url: string; key: string | null }[] = [];
  const fetch: FetchLike = (input, init) => {
    const headers = new Headers(init.headers);
    seen.push({ method: init.method ?? "GET", url: input, key: headers.get("idempotency-key") });
    return inner(input, init);
  };
  return { seen, fetch };
}

beforeAll(async () => {
  await client().prices.set("cl.chat", { rates: { tokens: { credits: 1, per: 10 } }, description: "chat by tokens" });
});

describe("accounts", () => {
  it("upserts (201 then 200) and reads an account", async () => {
    const c = client();
    const id = fresh("acct");
    const created = await c.accounts.upsert(id, { name: "Ada", email: "ada@example.com" });
    expect(created.id).toBe(id);
    await c.accounts.upsert(id, { name: "Ada L." });
    await c.grants.create(id, { amount: 500 });
    const got = await c.accounts.get(id);
    expect(got.balance).toBe(500);
    expect(got.available).toBe(500);
  });

  it("an unknown account is a NotFoundError", async () => {
    const err = await client().accounts.get(fresh("nobody")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toBeInstanceOf(CredenceError);
    expect((err as NotFoundError).status).toBe(404);
    expect((err as NotFoundError).type).toBe("account_not_found");
  });

  it("a wrong key is an AuthenticationError, not retried", async () => {
    const { seen, fetch } = recording();
    const err = await client({ apiKey: "ck_wrong_key_for_client_test", fetch }).accounts.get("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).status).toBe(401);
    expect(seen).toHaveLength(1);
  });
});

describe("quote and debits", () => {
  it("quotes, then debits and returns the typed answer", async () => {
    const c = client();
    const id = await opened(1000);
    const quote = await c.quote(id, { operation: "cl.chat", quantities: { tokens: 100 } });
    expect(quote.cost).toBe(10);
    expect(quote.affordable).toBe(true);
    const debit = await c.debits.create(id, { operation: "cl.chat", quantities: { tokens: 100 }, description: "a chat" });
    expect(debit.cost).toBe(10);
    expect(debit.balance).toBe(990);
    expect(typeof debit.entry_id).toBe("string");
  });

  it("a debit above the balance throws InsufficientCreditsError with required and available", async () => {
    const id = await opened(100);
    const err = await client().debits.create(id, { amount: 250 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientCreditsError);
    const e = err as InsufficientCreditsError;
    expect(e.status).toBe(402);
    expect(e.type).toBe("insufficient_credits");
    expect(e.required).toBe(250);
    expect(e.available).toBe(100);
    expect(typeof e.idempotencyKey).toBe("string");
    expect((await account(id)).balance).toBe(100);
  });

  it("an invalid body is a ValidationError naming the field", async () => {
    const id = await opened(100);
    const err = await client().debits.create(id, { amount: -5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).status).toBe(400);
    expect((err as ValidationError).field).toBe("amount");
  });

  it("one Idempotency-Key for two different debits is an IdempotencyConflictError", async () => {
    const c = client();
    const id = await opened(100);
    await c.debits.create(id, { amount: 5 }, { idempotencyKey: `${id}-k` });
    const again = await c.debits.create(id, { amount: 5 }, { idempotencyKey: `${id}-k` });
    expect(again.balance).toBe(95);
    const err = await c.debits.create(id, { amount: 6 }, { idempotencyKey: `${id}-k` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdempotencyConflictError);
    expect((err as IdempotencyConflictError).status).toBe(409);
    expect((await account(id)).balance).toBe(95);
  });

  it("a daily limit throws SpendingLimitError; a block throws SpendingBlockedError", async () => {
    const c = client();
    const id = await opened(1000);
    await c.limits.set(id, { daily: 50 });
    const limited = await c.debits.create(id, { amount: 60 }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(SpendingLimitError);
    expect((limited as SpendingLimitError).required).toBe(60);

    await c.accounts.block(id, { blocked: true, reason: "client test" });
    const blocked = await c.debits.create(id, { amount: 1 }).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(SpendingBlockedError);
    await c.accounts.block(id, { blocked: false });
    expect((await c.debits.create(id, { amount: 1 })).balance).toBe(999);
  });
});

describe("holds", () => {
  it("holds, captures the real usage, and a second capture is HoldNotActiveError", async () => {
    const c = client();
    const id = await opened(1000);
    const hold = await c.holds.create(id, { operation: "cl.chat", quantities: { tokens: 3000 } });
    expect(hold.amount).toBe(300);
    expect(hold.available).toBe(700);
    const captured = await c.holds.capture(id, hold.hold_id, { quantities: { tokens: 1200 } });
    expect(captured.cost).toBe(120);
    expect(captured.balance).toBe(880);
    const err = await c.holds.release(id, hold.hold_id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HoldNotActiveError);
    expect((err as HoldNotActiveError).status).toBe(409);
  });

  it("releases a hold; a hold above the balance is InsufficientCreditsError", async () => {
    const c = client();
    const id = await opened(100);
    const hold = await c.holds.create(id, { amount: 40 });
    const released = await c.holds.release(id, hold.hold_id);
    expect(released.released).toBe(40);
    expect(released.available).toBe(100);
    await expect(c.holds.create(id, { amount: 101 })).rejects.toBeInstanceOf(InsufficientCreditsError);
  });
});

describe("history", () => {
  it("for await over entries follows next_cursor across pages", async () => {
    const c = client();
    const id = await opened(1000);
    for (let i = 1; i <= 4; i++) await c.debits.create(id, { amount: i });
    await flush(id);
    const { seen, fetch } = recording();
    const amounts: number[] = [];
    for await (const entry of client({ fetch }).entries.list(id, { limit: 2 })) amounts.push(entry.amount);
    expect(amounts).toEqual([-4, -3, -2, -1, 1000]);
    expect(seen.length).toBe(3);
    const debits = await client().entries.list(id, { kind: "debit" }).toArray();
    expect(debits).toHaveLength(4);
    const usage = await c.usage.get(id, { granularity: "day" });
    expect(usage.data.reduce((sum, row) => sum + row.credits, 0)).toBe(10);
  });

  it("a bad filter is a ValidationError", async () => {
    const id = await opened(0);
    const err = await client().entries.list(id, { limit: 1000 }).page().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe("limit");
  });
});

describe("controls, catalogue and admin", () => {
  it("sets alerts and allowance and shows them on the account", async () => {
    const c = client();
    const id = await opened(100);
    await c.alerts.set(id, { low_balance_threshold: 50 });
    await c.allowance.set(id, { amount: 10, interval: "month", rollover_max: 0, rollover_expires_after_intervals: 1 });
    const got = await c.accounts.get(id);
    expect(got.low_balance).toMatchObject({ threshold: 50 });
    expect((got as { allowance: unknown }).allowance).not.toBeNull();
  });

  it("lists prices and packages; sets a package", async () => {
    const c = client();
    await c.packages.set("cl_pack", { credits: 1000, price: { amount: 500, currency: "usd" } });
    expect((await c.packages.list()).data.some((p) => p.id === "cl_pack")).toBe(true);
    expect((await c.prices.list()).data.some((p) => p.operation === "cl.chat")).toBe(true);
  });

  it("creates checkout and portal sessions, lists purchases, sets auto-recharge; an unknown package is a NotFoundError", async () => {
    const c = client();
    await c.packages.set("cl_starter", { credits: 1000, price: { amount: 500, currency: "usd" } });
    const id = await opened(0);
    const session = await c.checkoutSessions.create(id, { package_id: "cl_starter" });
    expect(session.id).toMatch(/^cs_test_/);
    expect(session.url).toContain(session.id);
    await expect(c.checkoutSessions.create(id, { package_id: "cl_no_such_package" })).rejects.toBeInstanceOf(NotFoundError);
    expect(await c.purchases.list(id).toArray()).toEqual([]);
    const portal = await c.portalSessions.create(id, { return_url: "https://app.example/account" });
    expect(portal.url).toMatch(/^https?:\/\//);
    expect(typeof portal.expires_at).toBe("string");
    await expect(c.portalSessions.create(fresh("nobody"))).rejects.toBeInstanceOf(NotFoundError);
    await c.autoRecharge.set(id, { enabled: true, threshold: 100, package_id: "cl_starter" });
    expect((await c.accounts.get(id)).auto_recharge).toMatchObject({ enabled: true, threshold: 100, package_id: "cl_starter" });
  });

  it("creates, lists and revokes API keys; a read key cannot write (PermissionError)", async () => {
    const c = client();
    const created = await c.apiKeys.create({ name: "client read", scopes: ["read"] });
    expect(created.key).toBeTruthy();
    expect((await c.apiKeys.list()).data.some((k) => k.id === created.id)).toBe(true);
    const reader = client({ apiKey: created.key });
    const id = await opened(10);
    expect((await reader.accounts.get(id)).balance).toBe(10);
    await expect(reader.debits.create(id, { amount: 1 })).rejects.toBeInstanceOf(PermissionError);
    await c.apiKeys.revoke(created.id);
    await expect(reader.accounts.get(id)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it("manages webhook endpoints; an unknown one is a NotFoundError", async () => {
    const c = client();
    const created = await c.webhookEndpoints.create({ url: "https://hooks.example/credence", events: ["balance.low"] });
    expect(created.secret).toMatch(/^whsec_/);
    expect((await c.webhookEndpoints.list()).data.some((e) => e.id === created.id)).toBe(true);
    const rotated = await c.webhookEndpoints.rotateSecret(created.id);
    expect(rotated.secret).not.toBe(created.secret);
    expect(await c.webhookEndpoints.deliveries(created.id).toArray()).toEqual([]);
    await expect(c.webhookEndpoints.retry(created.id, "evt_missing")).rejects.toBeInstanceOf(NotFoundError);
    await c.webhookEndpoints.disable(created.id);
    await expect(c.webhookEndpoints.rotateSecret("we_0000000000000000")).rejects.toBeInstanceOf(NotFoundError);
    await expect(c.webhookEndpoints.rotateSecret("not-an-id")).rejects.toBeInstanceOf(ValidationError);
  });

  it("reads admin health", async () => {
    const health = await client().admin.health();
    expect(health).toHaveProperty("history_lag_ms");
  });

  it("re-exports verifyCredenceSignature, which accepts what the Worker signs and nothing else", async () => {
    const body = '{"id":"evt_1"}';
    const t = Math.floor(Date.now() / 1000);
    const header = await signatureHeader(body, ["whsec_x"], t);
    expect(await verifyCredenceSignature(body, header, "whsec_x")).toBe(true);
    expect(await verifyCredenceSignature(body, header, "whsec_y")).toBe(false);
    expect(await verifyCredenceSignature("{}", "t=1,v1=00", "whsec_x")).toBe(false);
  });
});

describe("retries", () => {
  it("a network failure after the server applied a debit, retried by the client, charges once", async () => {
    const id = await opened(1000);
    let failed = false;
    const { seen, fetch } = recording(async (input, init) => {
      const res = await worker(input, init);
      if (!failed) {
        failed = true;
        await res.text();
        throw new TypeError("Network connection lost.");
      }
      return res;
    });
    const debit = await client({ fetch }).debits.create(id, { amount: 70 });
    expect(debit.balance).toBe(930);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.key).toBeTruthy();
    expect(seen[1]!.key).toBe(seen[0]!.key);
    expect((await account(id)).balance).toBe(930);
    await flush(id);
    const debits = await client().entries.list(id, { kind: "debit" }).toArray();
    expect(debits).toHaveLength(1);
  });

  it("retries a 503 and honours Retry-After on a 429, with the same key", async () => {
    const id = await opened(100);
    let calls = 0;
    const started = Date.now();
    const { seen, fetch } = recording(async (input, init) => {
      calls++;
      if (calls === 1) return Response.json({ error: { type: "internal_error", message: "boom" } }, { status: 503 });
      if (calls === 2) return Response.json({ error: { type: "rate_limited", message: "slow down" } }, { status: 429, headers: { "retry-after": "1" } });
      return worker(input, init);
    });
    const debit = await client({ fetch }).debits.create(id, { amount: 5 });
    expect(debit.balance).toBe(95);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
    expect(seen).toHaveLength(3);
  });

  it("gives up after maxRetries with the last typed error; a 4xx is never retried", async () => {
    const { seen, fetch } = recording(async () =>
      Response.json({ error: { type: "rate_limited", message: "slow down" } }, { status: 429, headers: { "retry-after": "0" } }),
    );
    const err = await client({ fetch, maxRetries: 2 }).accounts.get("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfter).toBe(0);
    expect(seen).toHaveLength(3);

    const id = await opened(10);
    const counted = recording();
    await expect(client({ fetch: counted.fetch }).debits.create(id, { amount: 11 })).rejects.toBeInstanceOf(InsufficientCreditsError);
    expect(counted.seen).toHaveLength(1);
  });

  it("times out each attempt and ends with a ConnectionError", async () => {
    let attempts = 0;
    const hang: FetchLike = (_input, init) =>
      new Promise((_resolve, reject) => {
        attempts++;
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const err = await client({ fetch: hang, timeoutMs: 50, maxRetries: 1 }).accounts.get("x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).type).toBe("timeout");
    expect(attempts).toBe(2);
  });

  it("a caller's abort stops the call without retrying it", async () => {
    let attempts = 0;
    const hang: FetchLike = (_input, init) =>
      new Promise((_resolve, reject) => {
        attempts++;
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const controller = new AbortController();
    const call = client({ fetch: hang }).accounts.get("x", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("caller gave up")), 20);
    await expect(call).rejects.toThrow("caller gave up");
    expect(attempts).toBe(1);
    await expect(client({ fetch: hang }).accounts.get("x", { signal: controller.signal })).rejects.toThrow("caller gave up");
    expect(attempts).toBe(1);
  });
});

// Every method's typed error path against the real Worker: what an app would catch.
describe("every method's typed error", () => {
  it("maps each refusal to its error class", async () => {
    const admin = client({ maxRetries: 0 });
    const writer = client({ maxRetries: 0, apiKey: (await admin.apiKeys.create({ name: "client write", scopes: ["write"] })).key });
    const id = await opened(10);
    const nobody = fresh("nobody");
    const bad = { amount: -1 } as never;
    const cases: [string, () => Promise<unknown>, new (...args: never[]) => CredenceError][] = [
      ["accounts.get", () => admin.accounts.get(nobody), NotFoundError],
      ["accounts.upsert", () => admin.accounts.upsert(id, { currency_name: 5 } as never), ValidationError],
      ["accounts.block", () => writer.accounts.block(id, { blocked: true }), PermissionError],
      // An operation without a price is a bad request (400 naming the operation), not a missing resource.
      ["quote", () => admin.quote(id, { operation: "cl.no-such-op", quantities: { tokens: 1 } }), ValidationError],
      ["debits.create", () => admin.debits.create(id, { amount: 11 }), InsufficientCreditsError],
      ["holds.create", () => admin.holds.create(id, bad), ValidationError],
      ["holds.capture", () => admin.holds.capture(id, "hold_missing", { amount: 1 }), NotFoundError],
      ["holds.release", () => admin.holds.release(id, "hold_missing"), NotFoundError],
      ["grants.create", () => writer.grants.create(id, { amount: 5 }), PermissionError],
      ["entries.list", () => admin.entries.list(nobody).toArray(), NotFoundError],
      ["usage.get", () => admin.usage.get(id, { group_by: "nonsense" } as never), ValidationError],
      ["limits.set", () => admin.limits.set(id, { daily: -5 } as never), ValidationError],
      ["alerts.set", () => admin.alerts.set(id, { low_balance_threshold: -1 }), ValidationError],
      ["autoRecharge.set", () => admin.autoRecharge.set(id, { enabled: true, threshold: 10, package_id: "cl_none" }), ValidationError],
      ["allowance.set", () => admin.allowance.set(id, { amount: 10, interval: "fortnight" } as never), ValidationError],
      ["prices.list", () => client({ maxRetries: 0, apiKey: "cr_wrong_key" }).prices.list(), AuthenticationError],
      ["prices.set", () => writer.prices.set("cl.chat", { rates: { tokens: { credits: 1, per: 1 } } }), PermissionError],
      ["packages.list", () => client({ maxRetries: 0, apiKey: "cr_wrong_key" }).packages.list(), AuthenticationError],
      ["packages.set", () => writer.packages.set("cl_pack", { credits: 1, price: { amount: 100, currency: "usd" } }), PermissionError],
      ["checkoutSessions.create", () => admin.checkoutSessions.create(id, { package_id: "cl_none" }), NotFoundError],
      ["purchases.list", () => admin.purchases.list(nobody).toArray(), NotFoundError],
      ["portalSessions.create", () => admin.portalSessions.create(nobody), NotFoundError],
      ["apiKeys.create", () => writer.apiKeys.create({ name: "x", scopes: ["read"] }), PermissionError],
      ["apiKeys.list", () => writer.apiKeys.list(), PermissionError],
      ["apiKeys.revoke", () => admin.apiKeys.revoke("key_0000000000000000"), NotFoundError],
      ["webhookEndpoints.create", () => admin.webhookEndpoints.create({ url: "http://hooks.example/x", events: ["balance.low"] }), ValidationError],
      ["webhookEndpoints.list", () => writer.webhookEndpoints.list(), PermissionError],
      ["webhookEndpoints.disable", () => admin.webhookEndpoints.disable("we_0000000000000000"), NotFoundError],
      ["webhookEndpoints.rotateSecret", () => admin.webhookEndpoints.rotateSecret("we_0000000000000000"), NotFoundError],
      ["webhookEndpoints.deliveries", () => admin.webhookEndpoints.deliveries("we_0000000000000000").toArray(), NotFoundError],
      ["webhookEndpoints.retry", () => admin.webhookEndpoints.retry("we_0000000000000000", "evt_x"), NotFoundError],
      ["admin.health", () => writer.admin.health(), PermissionError],
    ];
    const outcomes = await Promise.all(cases.map(async ([name, call]) => [name, await call().then(() => "succeeded", (e: unknown) => e)] as const));
    const wrong = outcomes.flatMap(([name, outcome], i) => {
      const expected = cases[i]![2];
      return outcome instanceof expected ? [] : [`${name}: expected ${expected.name}, got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : String(outcome)}`];
    });
    expect(wrong).toEqual([]);
  });
});

describe("the Worker's own 429", () => {
  it("is a RateLimitedError with the Retry-After seconds once an IP has failed authentication too often", async () => {
    const ip = `2001:db8:c11e:${(++n).toString(16)}::${Date.now().toString(16).slice(-4)}`;
    const fromIp: FetchLike = (input, init) => {
      const headers = new Headers(init.headers);
      headers.set("cf-connecting-ip", ip);
      return worker(input, { ...init, headers });
    };
    const intruder = client({ apiKey: "cr_guessing_0000", maxRetries: 0, fetch: fromIp });
    const outcomes: unknown[] = [];
    // AUTH_FAILURES allows 30 failures per IP per minute (wrangler.toml).
    for (let i = 0; i < 31; i++) outcomes.push(await intruder.prices.list().catch((e: unknown) => e));
    expect(outcomes.slice(0, 30).every((e) => e instanceof AuthenticationError)).toBe(true);
    const limited = outcomes[30];
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfter).toBeGreaterThan(0);
  });
});
