import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, beforeAll } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { account, api, audit, d1Entries, flush, ledger, openAccount } from "./helpers";

const hold = (id: string, body: unknown) => api("POST", `/v1/accounts/${id}/holds`, { body });
const capture = (id: string, holdId: string, body: unknown) => api("POST", `/v1/accounts/${id}/holds/${holdId}/capture`, { body });

describe("holds", () => {
  beforeAll(async () => {
    await api("PUT", "/v1/prices/stream.test", { body: { rates: { output_tokens: { credits: 1, per: 10 } } } });
  });

  it("reserves credits with a default 15-minute TTL", async () => {
    await openAccount("hold-basic", 100);
    const before = Date.now();
    const res = await hold("hold-basic", { amount: 40 });
    const after = Date.now();
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ amount: 40, available: 60 });
    expect(res.body.hold_id).toMatch(/^hold_/);
    // 15 minutes from the moment the hold was placed, which lies between before and after (however
    // long the request took on a loaded machine), give or take the clock's millisecond rounding.
    const expiresAt = Date.parse(res.body.expires_at);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 900_000 - 1);
    expect(expiresAt).toBeLessThanOrEqual(after + 900_000 + 1);
    const a = await account("hold-basic");
    expect(a).toMatchObject({ balance: 100, held: 40, available: 60 });
    expect(a.holds).toHaveLength(1);
  });

  it("captures less than held: charges the actual cost and releases the rest", async () => {
    await openAccount("hold-less", 100);
    const h = await hold("hold-less", { amount: 40, ttl_seconds: 60 });
    const res = await capture("hold-less", h.body.hold_id, { amount: 25 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cost: 25, released: 15, overrun: 0, balance: 75, available: 75 });
    expect(res.headers.get("Credits-Cost")).toBe("25");
    expect(res.headers.get("Credits-Balance")).toBe("75");
  });

  it("captures more than held: takes what is available, the rest becomes debt", async () => {
    await openAccount("hold-over", 100);
    const h = await hold("hold-over", { amount: 70 });
    const res = await capture("hold-over", h.body.hold_id, { amount: 130 });
    expect(res.body).toMatchObject({ cost: 130, uncharged: 0, released: 0, overrun: 30, balance: -30, available: -30, debt: 30 });
    // The next credit pays the debt first.
    const g = await api("POST", "/v1/accounts/hold-over/grants", { body: { amount: 50 } });
    expect(g.body).toMatchObject({ balance: 20, debt_paid: 30 });
    expect(await audit("hold-over")).toMatchObject({ balance: 20, journalSum: 20 });
  });

  it("capture of 0 releases the whole hold and charges nothing", async () => {
    await openAccount("hold-zero", 100);
    const h = await hold("hold-zero", { amount: 40 });
    const res = await capture("hold-zero", h.body.hold_id, { amount: 0 });
    expect(res.body).toMatchObject({ cost: 0, released: 40, balance: 100, available: 100 });
  });

  it("prices a capture by quantities with the hold's operation", async () => {
    await openAccount("hold-priced", 1000);
    const h = await hold("hold-priced", { operation: "stream.test", quantities: { output_tokens: 2000 } });
    expect(h.body.amount).toBe(200);
    const res = await capture("hold-priced", h.body.hold_id, { quantities: { output_tokens: 1234 } });
    expect(res.body).toMatchObject({ cost: 124, released: 76, balance: 876 });
  });

  it("release gives every held credit back", async () => {
    await openAccount("hold-release", 100);
    const h = await hold("hold-release", { amount: 70 });
    const res = await api("POST", `/v1/accounts/hold-release/holds/${h.body.hold_id}/release`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ released: 70, available: 100 });
  });

  it("refuses a hold larger than what is available: 402", async () => {
    await openAccount("hold-poor", 10);
    const res = await hold("hold-poor", { amount: 11 });
    expect(res.status).toBe(402);
    expect(res.body.error.type).toBe("insufficient_credits");
  });

  it("refuses a TTL over 24 hours: 400", async () => {
    await openAccount("hold-ttl", 10);
    const res = await hold("hold-ttl", { amount: 1, ttl_seconds: 86_401 });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("ttl_seconds");
  });

  it("captures a hold only once, even when the capture is retried with a new key", async () => {
    await openAccount("hold-once", 100);
    const h = await hold("hold-once", { amount: 40 });
    const [a, b] = await Promise.all([capture("hold-once", h.body.hold_id, { amount: 30 }), capture("hold-once", h.body.hold_id, { amount: 30 })]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect((await account("hold-once")).balance).toBe(70);
  });

  it("unknown hold: 404", async () => {
    await openAccount("hold-unknown", 10);
    const res = await capture("hold-unknown", "hold_doesnotexist00000", { amount: 1 });
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("hold_not_found");
  });

  it("expires by the alarm and releases its credits; a late capture gets 409", async () => {
    await openAccount("hold-expiry", 100);
    const h = await hold("hold-expiry", { amount: 40, ttl_seconds: 60 });
    const expiresAt = Date.parse(h.body.expires_at);
    await runInDurableObject(ledger("hold-expiry"), (instance: AccountLedger) => {
      instance.clock = () => expiresAt + 1;
    });
    await flush("hold-expiry");
    const a = await account("hold-expiry");
    expect(a).toMatchObject({ held: 0, available: 100, holds: [] });
    const late = await capture("hold-expiry", h.body.hold_id, { amount: 10 });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ type: "hold_not_active", status: "expired" });
    await flush("hold-expiry");
    expect((await d1Entries("hold-expiry")).map((e) => e.kind)).toEqual(["grant", "hold", "hold_expire"]);
  });
});
