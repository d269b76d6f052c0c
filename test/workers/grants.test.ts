import { beforeAll, describe, expect, it } from "vitest";
import { account, api, audit, expectRefused as refusedUnchanged, freshKey, openAccount, type Answer } from "./helpers";

const grant = (id: string, body: unknown, opts: { key?: string; idem?: string } = {}) =>
  api("POST", `/v1/accounts/${id}/grants`, { body, ...opts });

describe("POST /v1/accounts/{id}/grants", () => {
  it("a promo grant with an expiry shows in lots and next_expiry", async () => {
    await openAccount("grant-promo", 100);
    const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const res = await grant("grant-promo", { amount: 40, source: "promo", expires_at: expiresAt, description: "welcome" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ balance: 140, available: 140 });
    expect(res.body.lot_id).toMatch(/^lot_/);

    const a = await account("grant-promo");
    expect(a.balance).toBe(140);
    expect(a.lots).toContainEqual(
      expect.objectContaining({ id: res.body.lot_id, source: "promo", amount: 40, remaining: 40, expires_at: expiresAt }),
    );
    expect(a.next_expiry).toEqual({ at: expiresAt, amount: 40 });
  });

  it("next_expiry names the soonest expiry and the credits that expire then", async () => {
    await openAccount("grant-two-expiries");
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const later = new Date(Date.now() + 7_200_000).toISOString();
    await grant("grant-two-expiries", { amount: 30, expires_at: later });
    await grant("grant-two-expiries", { amount: 20, expires_at: soon });
    await grant("grant-two-expiries", { amount: 5, expires_at: soon });
    expect((await account("grant-two-expiries")).next_expiry).toEqual({ at: soon, amount: 25 });
  });

  it("an expires_at with an offset is understood as the same instant", async () => {
    await openAccount("grant-offset");
    const at = new Date(Math.ceil((Date.now() + 86_400_000) / 1000) * 1000);
    const withOffset = new Date(at.getTime() + 2 * 3_600_000).toISOString().replace("Z", "+02:00").replace(".000", "");
    expect((await grant("grant-offset", { amount: 10, expires_at: withOffset })).status).toBe(201);
    expect((await account("grant-offset")).next_expiry).toEqual({ at: at.toISOString(), amount: 10 });
  });

  it("a grant while in debt pays the debt first", async () => {
    await openAccount("grant-debt", 100);
    const hold = await api("POST", "/v1/accounts/grant-debt/holds", { body: { amount: 80 } });
    expect(hold.status).toBe(201);
    const capture = await api("POST", `/v1/accounts/grant-debt/holds/${hold.body.hold_id}/capture`, { body: { amount: 130 } });
    expect(capture.status).toBe(200);
    expect(capture.body).toMatchObject({ overrun: 30, balance: -30 });
    expect(await account("grant-debt")).toMatchObject({ balance: -30, debt: 30 });

    const res = await grant("grant-debt", { amount: 50 });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ balance: 20, available: 20 });
    const a = await account("grant-debt");
    expect(a).toMatchObject({ balance: 20, available: 20, debt: 0 });
    expect(a.lots).toEqual([expect.objectContaining({ id: res.body.lot_id, amount: 50, remaining: 20 })]);
    expect(await audit("grant-debt")).toMatchObject({ balance: 20, journalSum: 20 });
    // Out of debt, spending works again.
    expect((await api("POST", "/v1/accounts/grant-debt/debits", { body: { amount: 20 } })).status).toBe(201);
  });

  it("a grant smaller than the debt only shrinks it", async () => {
    await openAccount("grant-small-debt", 10);
    const hold = await api("POST", "/v1/accounts/grant-small-debt/holds", { body: { amount: 10 } });
    await api("POST", `/v1/accounts/grant-small-debt/holds/${hold.body.hold_id}/capture`, { body: { amount: 20 } });
    const res = await grant("grant-small-debt", { amount: 4 });
    expect(res.status).toBe(201);
    expect(await account("grant-small-debt")).toMatchObject({ balance: -6, debt: 6, lots: [] });
    const debit = await api("POST", "/v1/accounts/grant-small-debt/debits", { body: { amount: 1 } });
    expect(debit.status).toBe(402);
    expect(debit.body.error.type).toBe("account_in_debt");
  });

  it("replaying the same key and body returns the same lot and grants once", async () => {
    await openAccount("grant-replay");
    const idem = freshKey();
    const first = await grant("grant-replay", { amount: 25, source: "adjustment" }, { idem });
    expect(first.status).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    const again = await grant("grant-replay", { amount: 25, source: "adjustment" }, { idem });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    const a = await account("grant-replay");
    expect(a.balance).toBe(25);
    expect(a.lots).toHaveLength(1);
  });

  it("the same key with another body is a 409 and grants nothing more", async () => {
    await openAccount("grant-conflict");
    const idem = freshKey();
    expect((await grant("grant-conflict", { amount: 25 }, { idem })).status).toBe(201);
    const other = await grant("grant-conflict", { amount: 26 }, { idem });
    expect(other.status).toBe(409);
    expect(other.body.error.type).toBe("idempotency_conflict");
    expect((await account("grant-conflict")).balance).toBe(25);
  });
});

describe("grant errors change nothing", () => {
  const ID = "grant-errors";

  async function expectRefused(send: () => Promise<Answer>, status: number, type: string) {
    const lotsBefore = (await account(ID)).lots;
    const res = await refusedUnchanged(ID, send, status, type);
    expect((await account(ID)).lots).toEqual(lotsBefore);
    return res;
  }

  beforeAll(() => openAccount(ID, 100));

  it("expires_at in the past: 400 naming expires_at", async () => {
    const res = await expectRefused(() => grant(ID, { amount: 10, expires_at: new Date(Date.now() - 60_000).toISOString() }), 400, "invalid_request");
    expect(res.body.error.field).toBe("expires_at");
  });

  it("a refused past expiry does not poison its Idempotency-Key", async () => {
    const idem = freshKey();
    await expectRefused(() => grant(ID, { amount: 10, expires_at: "2000-01-01T00:00:00Z" }, { idem }), 400, "invalid_request");
    const fixed = await grant(ID, { amount: 10 }, { idem });
    expect(fixed.status).toBe(201);
    expect(fixed.body.balance).toBe(110);
  });

  it("expires_at that is not a date: 400", async () => {
    const res = await expectRefused(() => grant(ID, { amount: 10, expires_at: "next tuesday" }), 400, "invalid_request");
    expect(res.body.error.field).toBe("expires_at");
  });

  it("an invalid source: 400 naming source", async () => {
    const res = await expectRefused(() => grant(ID, { amount: 10, source: "gift" }), 400, "invalid_request");
    expect(res.body.error.field).toBe("source");
  });

  it("a write key: 403", async () => {
    const writer = await api("POST", "/v1/api-keys", { body: { name: "writer", scopes: ["write"] } });
    const res = await expectRefused(() => grant(ID, { amount: 10 }, { key: writer.body.key }), 403, "forbidden");
    expect(res.body.error.required_scope).toBe("admin");
  });

  it("an unknown account: 404, and no account springs into being", async () => {
    const res = await grant("grant-nobody", { amount: 10 });
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("account_not_found");
    expect((await api("GET", "/v1/accounts/grant-nobody")).status).toBe(404);
  });
});
