import { describe, expect, it } from "vitest";
import { account, api, audit, openAccount } from "./helpers";

describe("PUT /v1/accounts/{id}", () => {
  it("creates the account (201), then updates it (200) keeping the fields it does not name", async () => {
    const created = await api("PUT", "/v1/accounts/acct-upsert", {
      body: { name: "Ada", email: "ada@example.com", metadata: { plan: "pro" }, time_zone: "Europe/Paris" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: "acct-upsert",
      name: "Ada",
      email: "ada@example.com",
      metadata: { plan: "pro" },
      balance: 0,
      available: 0,
    });

    const updated = await api("PUT", "/v1/accounts/acct-upsert", { body: { name: "Ada Lovelace" } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: "acct-upsert", name: "Ada Lovelace", email: "ada@example.com", metadata: { plan: "pro" } });

    const read = await account("acct-upsert");
    expect(read).toMatchObject({ name: "Ada Lovelace", email: "ada@example.com", metadata: { plan: "pro" }, time_zone: "Europe/Paris" });
  });

  it("an update never touches the credits", async () => {
    await openAccount("acct-update-keeps-credits", 300);
    const updated = await api("PUT", "/v1/accounts/acct-update-keeps-credits", { body: { email: "x@example.com" } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ balance: 300, available: 300 });
    expect(await audit("acct-update-keeps-credits")).toMatchObject({ balance: 300, journalSum: 300 });
  });

  it("null clears a field", async () => {
    await api("PUT", "/v1/accounts/acct-clear", { body: { name: "Temp", email: "t@example.com" } });
    const res = await api("PUT", "/v1/accounts/acct-clear", { body: { email: null } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "Temp", email: null });
  });
});

describe("GET /v1/accounts/{id}", () => {
  it("answers the shape API.md promises", async () => {
    await openAccount("acct-shape", 500);
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    expect((await api("POST", "/v1/accounts/acct-shape/grants", { body: { amount: 50, source: "promo", expires_at: expiresAt } })).status).toBe(201);
    const hold = await api("POST", "/v1/accounts/acct-shape/holds", { body: { amount: 70 } });
    expect(hold.status).toBe(201);

    const res = await api("GET", "/v1/accounts/acct-shape");
    expect(res.status).toBe(200);
    const a = res.body;
    expect(a).toMatchObject({ id: "acct-shape", balance: 550, held: 70, available: 480, debt: 0, auto_recharge: null });
    expect(a.lots).toHaveLength(2);
    for (const lot of a.lots) {
      expect(Object.keys(lot)).toEqual(expect.arrayContaining(["id", "source", "amount", "remaining", "expires_at"]));
      expect(lot.id).toMatch(/^lot_/);
    }
    expect(a.lots).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: "grant", amount: 500, remaining: 500, expires_at: null }),
        expect.objectContaining({ source: "promo", amount: 50, remaining: 50, expires_at: expiresAt }),
      ]),
    );
    expect(a.holds).toEqual([expect.objectContaining({ id: hold.body.hold_id, amount: 70, expires_at: hold.body.expires_at })]);
    expect(a.limits).toMatchObject({ daily: null, monthly: null });
    expect(a.low_balance).toEqual({ threshold: null, is_low: false });
    expect(a.next_expiry).toEqual({ at: expiresAt, amount: 50 });
  });

  it("a fresh account has no lots, no holds, no next expiry", async () => {
    await openAccount("acct-empty");
    const a = await account("acct-empty");
    expect(a).toMatchObject({ balance: 0, available: 0, held: 0, debt: 0, lots: [], holds: [], next_expiry: null });
  });

  it("an account never created is a 404 account_not_found", async () => {
    const res = await api("GET", "/v1/accounts/acct-never-made");
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("account_not_found");
    expect(typeof res.body.error.message).toBe("string");
  });
});

describe("account errors", () => {
  it("an invalid email is a 400 naming the field, and nothing is created", async () => {
    const res = await api("PUT", "/v1/accounts/acct-bad-email", { body: { name: "x", email: "not-an-email" } });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("invalid_request");
    expect(res.body.error.field).toBe("email");
    expect((await api("GET", "/v1/accounts/acct-bad-email")).status).toBe(404);
  });

  it("an invalid time_zone is a 400 naming the field", async () => {
    const res = await api("PUT", "/v1/accounts/acct-bad-tz", { body: { time_zone: "Mars/Olympus_Mons" } });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("invalid_request");
    expect(res.body.error.field).toBe("time_zone");
    expect((await api("GET", "/v1/accounts/acct-bad-tz")).status).toBe(404);
  });

  it("an unknown field is a 400 naming it", async () => {
    const res = await api("PUT", "/v1/accounts/acct-unknown-field", { body: { name: "x", balance: 1000 } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("balance");
  });

  it("a read-scoped key can read but not create or update (403)", async () => {
    await openAccount("acct-read-key", 10);
    const reader = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    expect(reader.status).toBe(201);
    const key = reader.body.key as string;

    const put = await api("PUT", "/v1/accounts/acct-read-key", { body: { name: "hijacked" }, key });
    expect(put.status).toBe(403);
    expect(put.body.error.type).toBe("forbidden");
    const create = await api("PUT", "/v1/accounts/acct-read-key-new", { body: { name: "new" }, key });
    expect(create.status).toBe(403);

    const read = await api("GET", "/v1/accounts/acct-read-key", { key });
    expect(read.status).toBe(200);
    expect(read.body.name).toBe("Test acct-read-key");
    expect((await api("GET", "/v1/accounts/acct-read-key-new")).status).toBe(404);
  });
});

describe("time zone names", () => {
  it("are stored in their canonical spelling, whatever case they were sent in", async () => {
    const res = await api("PUT", "/v1/accounts/acct-tz-case", { body: { time_zone: "eUrOpE/pArIs" } });
    expect(res.status).toBe(201);
    expect(res.body.time_zone).toBe("Europe/Paris");
    expect(res.body.limits.time_zone).toBe("Europe/Paris");
    expect((await api("GET", "/v1/accounts/acct-tz-case")).body.time_zone).toBe("Europe/Paris");
  });
});
