import { describe, expect, it } from "vitest";
import { account, api, audit, freshKey, openAccount } from "./helpers";

describe("Idempotency-Key", () => {
  it("a retried debit returns the first answer and charges once", async () => {
    await openAccount("idem-retry", 100);
    const key = freshKey();
    const first = await api("POST", "/v1/accounts/idem-retry/debits", { body: { amount: 30 }, idem: key });
    const again = await api("POST", "/v1/accounts/idem-retry/debits", { body: { amount: 30 }, idem: key });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.headers.get("Credits-Cost")).toBe("30");
    expect((await account("idem-retry")).balance).toBe(70);
  });

  it("concurrent retries of one key charge once", async () => {
    await openAccount("idem-concurrent", 100);
    const key = freshKey();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => api("POST", "/v1/accounts/idem-concurrent/debits", { body: { amount: 10 }, idem: key })),
    );
    expect(new Set(answers.map((a) => a.body.entry_id)).size).toBe(1);
    expect((await account("idem-concurrent")).balance).toBe(90);
  });

  it("keeps a 402 answer: the same request replays the refusal even after credits arrive", async () => {
    await openAccount("idem-402", 5);
    const key = freshKey();
    expect((await api("POST", "/v1/accounts/idem-402/debits", { body: { amount: 10 }, idem: key })).status).toBe(402);
    await api("POST", "/v1/accounts/idem-402/grants", { body: { amount: 100 } });
    const again = await api("POST", "/v1/accounts/idem-402/debits", { body: { amount: 10 }, idem: key });
    expect(again.status).toBe(402);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await account("idem-402")).balance).toBe(105);
  });

  it("does not keep a 400: a corrected retry with the same key runs", async () => {
    await openAccount("idem-400", 50);
    const key = freshKey();
    expect((await api("POST", "/v1/accounts/idem-400/debits", { body: { amount: -1 }, idem: key })).status).toBe(400);
    const fixed = await api("POST", "/v1/accounts/idem-400/debits", { body: { amount: 1 }, idem: key });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("Idempotent-Replayed")).toBeNull();
  });

  it("treats the same body with other whitespace or key order as the same request", async () => {
    await openAccount("idem-format", 50);
    const key = freshKey();
    await api("POST", "/v1/accounts/idem-format/debits", { raw: '{"amount":4,"description":"x"}', idem: key });
    const again = await api("POST", "/v1/accounts/idem-format/debits", { raw: '{ "description": "x",  "amount": 4 }', idem: key });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await audit("idem-format")).toMatchObject({ balance: 46 });
  });

  it("a key used for a debit cannot be reused for a hold", async () => {
    await openAccount("idem-cross", 50);
    const key = freshKey();
    await api("POST", "/v1/accounts/idem-cross/debits", { body: { amount: 4 }, idem: key });
    const hold = await api("POST", "/v1/accounts/idem-cross/holds", { body: { amount: 4 }, idem: key });
    expect(hold.status).toBe(409);
    expect(hold.body.error.type).toBe("idempotency_conflict");
  });
});

describe("Idempotency-Key when the same request would now be refused", () => {
  it("replays the first answer, not a new refusal", async () => {
    const { runInDurableObject } = await import("cloudflare:test");
    const { ledger } = await import("./helpers");
    await openAccount("idem-later", 10);
    const key = freshKey();
    const body = { amount: 5, expires_at: new Date(Date.now() + 3_600_000).toISOString() };
    const first = await api("POST", "/v1/accounts/idem-later/grants", { body, idem: key });
    expect(first.status).toBe(201);
    // Two hours later the same grant would be refused (its expiry is in the past) …
    await runInDurableObject(ledger("idem-later"), (instance: { clock: () => number }) => {
      const later = Date.now() + 7_200_000;
      instance.clock = () => later;
    });
    const fresh = await api("POST", "/v1/accounts/idem-later/grants", { body, idem: freshKey() });
    expect(fresh.status).toBe(400);
    // … but its retry with the first key is still the first answer.
    const retry = await api("POST", "/v1/accounts/idem-later/grants", { body, idem: key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body).toEqual(first.body);
  });
});

describe("Idempotency-Key and the order of keys in the body", () => {
  it("the same request with its maps written in another order is a replay, not a conflict", async () => {
    await api("PUT", "/v1/prices/idem.order", { body: { rates: { a: { credits: 1, per: 1 }, b: { credits: 2, per: 1 } } } });
    await openAccount("idem-order", 100);
    const key = freshKey();
    const first = await api("POST", "/v1/accounts/idem-order/debits", {
      raw: '{"operation":"idem.order","quantities":{"a":1,"b":2},"metadata":{"x":1,"y":"z","w":true}}',
      idem: key,
    });
    expect(first.status).toBe(201);
    const again = await api("POST", "/v1/accounts/idem-order/debits", {
      raw: '{"metadata":{"w":true,"y":"z","x":1},"quantities":{"b":2,"a":1},"operation":"idem.order"}',
      idem: key,
    });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect((await account("idem-order")).balance).toBe(95);
  });
});
