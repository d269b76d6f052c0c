import { describe, expect, it, beforeAll } from "vitest";
import { api, expectRefused as refusedUnchanged, freshKey, openAccount, type Answer } from "./helpers";

// Every bad request gets a clear error and changes nothing: same balance, same journal. (Not the
// shipping cursor: the alarm ships earlier changes on its own, whenever it comes due.)
const ID = "bad-input";

const expectRefused = (send: () => Promise<Answer>, status: number, type: string) => refusedUnchanged(ID, send, status, type);

const debit = (body: unknown, opts: { key?: string | null; idem?: string | null; raw?: string; headers?: Record<string, string> } = {}) =>
  api("POST", `/v1/accounts/${ID}/debits`, { body, ...opts });

describe("bad input changes nothing", () => {
  beforeAll(async () => {
    await openAccount(ID, 1000);
    await api("PUT", "/v1/prices/chat.mini", { body: { rates: { input_tokens: { credits: 1, per: 1000 } } } });
  });

  it("missing key: 401", () => expectRefused(() => debit({ amount: 1 }, { key: null }), 401, "unauthorized"));
  it("invalid key: 401", () => expectRefused(() => debit({ amount: 1 }, { key: "cr_not_a_real_key_at_all" }), 401, "unauthorized"));

  it("revoked key: 401", async () => {
    const created = await api("POST", "/v1/api-keys", { body: { name: "soon revoked", scopes: ["write"] } });
    expect(created.status).toBe(201);
    expect((await debit({ amount: 1 }, { key: created.body.key })).status).toBe(201);
    expect((await api("DELETE", `/v1/api-keys/${created.body.id}`)).status).toBe(200);
    await expectRefused(() => debit({ amount: 1 }, { key: created.body.key }), 401, "unauthorized");
  });

  it("read key on a write route: 403", async () => {
    const created = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    const res = await expectRefused(() => debit({ amount: 1 }, { key: created.body.key }), 403, "forbidden");
    expect(res.body.error.required_scope).toBe("write");
  });

  it("write key on an admin route: 403", async () => {
    const created = await api("POST", "/v1/api-keys", { body: { name: "writer", scopes: ["write"] } });
    await expectRefused(() => api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 5 }, key: created.body.key }), 403, "forbidden");
  });

  it("malformed JSON: 400", () => expectRefused(() => debit(undefined, { raw: '{"amount": 1,' }), 400, "invalid_json"));

  it("body that is not JSON: 415", () =>
    expectRefused(() => debit(undefined, { raw: "amount=1", headers: { "content-type": "text/plain" } }), 415, "unsupported_media_type"));

  it("unknown field: 400 naming it", async () => {
    const res = await expectRefused(() => debit({ amount: 1, amont: 2 }), 400, "invalid_request");
    expect(res.body.error.field).toBe("amont");
  });

  it.each([
    ["float", 1.5],
    ["negative", -5],
    ["zero", 0],
    ["huge (> 2^53)", 2 ** 53 + 2],
    ["a string", "10"],
  ])("%s amount: 400 naming amount", async (_name, amount) => {
    const res = await expectRefused(() => debit({ amount }), 400, "invalid_request");
    expect(res.body.error.field).toBe("amount");
  });

  it("huge amount written as a literal past 2^53: 400", async () => {
    const res = await expectRefused(() => debit(undefined, { raw: '{"amount": 9007199254740993}' }), 400, "invalid_request");
    expect(res.body.error.field).toBe("amount");
  });

  it("unknown operation: 400", async () => {
    const res = await expectRefused(() => debit({ operation: "no.such.op", quantities: { input_tokens: 5 } }), 400, "unknown_operation");
    expect(res.body.error.field).toBe("operation");
  });

  it("quantity the operation does not price: 400 naming it", async () => {
    const res = await expectRefused(() => debit({ operation: "chat.mini", quantities: { pixels: 5 } }), 400, "invalid_request");
    expect(res.body.error.field).toBe("quantities.pixels");
  });

  it("unknown account: 404, and no account springs into being", async () => {
    const res = await api("POST", "/v1/accounts/never-created/debits", { body: { amount: 1 } });
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("account_not_found");
    expect((await api("GET", "/v1/accounts/never-created")).status).toBe(404);
  });

  it("missing Idempotency-Key: 400", () => expectRefused(() => debit({ amount: 1 }, { idem: null }), 400, "idempotency_key_required"));

  it("Idempotency-Key too long: 400", () => expectRefused(() => debit({ amount: 1 }, { idem: "k".repeat(256) }), 400, "invalid_idempotency_key"));

  it("same key with a different body: 409, and the first debit stands alone", async () => {
    const key = freshKey();
    expect((await debit({ amount: 7 }, { idem: key })).status).toBe(201);
    await expectRefused(() => debit({ amount: 8 }, { idem: key }), 409, "idempotency_conflict");
  });

  it("capture or release of a finished hold: 409", async () => {
    const hold = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 10 } });
    expect(hold.status).toBe(201);
    expect((await api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/release`)).status).toBe(200);
    const capture = await expectRefused(
      () => api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/capture`, { body: { amount: 5 } }),
      409,
      "hold_not_active",
    );
    expect(capture.body.error.status).toBe("released");
    await expectRefused(() => api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/release`), 409, "hold_not_active");
  });

  it("body over 64 KiB: 413", () =>
    expectRefused(() => debit({ amount: 1, description: "x".repeat(70 * 1024) }), 413, "payload_too_large"));

  it.each(["bad id!", "a".repeat(129), "semi;colon", "sp ace"])("account id %j: 400", async (id) => {
    const res = await api("POST", `/v1/accounts/${encodeURIComponent(id)}/debits`, { body: { amount: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("id");
  });
});

describe("an id that was never opened", () => {
  it("is answered 404 everywhere and leaves no tables behind", async () => {
    const { runInDurableObject } = await import("cloudflare:test");
    const { ledger } = await import("./helpers");
    const id = "probe-only";
    expect((await api("GET", `/v1/accounts/${id}`)).status).toBe(404);
    expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 1 } })).status).toBe(404);
    expect((await api("POST", `/v1/accounts/${id}/quote`, { body: { amount: 1 } })).status).toBe(404);
    expect((await api("GET", `/v1/accounts/${id}/entries`)).status).toBe(404);
    const tables = await runInDurableObject(ledger(id), (_instance, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'").toArray(),
    );
    expect(tables).toEqual([]);
    // Opening it afterwards works as for any new account.
    expect((await api("PUT", `/v1/accounts/${id}`, { body: {} })).status).toBe(201);
  });
});
