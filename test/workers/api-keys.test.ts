import { beforeAll, describe, expect, it } from "vitest";
import { api, openAccount } from "./helpers";

const createKey = (body: unknown, key?: string) => api("POST", "/v1/api-keys", { body, ...(key === undefined ? {} : { key }) });

describe("POST /v1/api-keys", () => {
  beforeAll(() => openAccount("keys-acct", 100));

  it("creates a key (201) shown once, starting with its prefix", async () => {
    const res = await createKey({ name: "backend", scopes: ["write"] });
    expect(res.status).toBe(201);
    expect(res.body.id).toMatch(/^key_[a-z0-9]{20}$/);
    expect(typeof res.body.key).toBe("string");
    expect(typeof res.body.prefix).toBe("string");
    expect(res.body.prefix.length).toBeGreaterThan(0);
    expect(res.body.prefix.length).toBeLessThan(res.body.key.length);
    expect(res.body.key.startsWith(res.body.prefix)).toBe(true);
    expect(res.body).toMatchObject({ name: "backend", scopes: ["write"], revoked_at: null });
    expect(res.body).not.toHaveProperty("hash");
  });

  it("two keys are different", async () => {
    const a = await createKey({ name: "a", scopes: ["read"] });
    const b = await createKey({ name: "b", scopes: ["read"] });
    expect(a.body.key).not.toBe(b.body.key);
    expect(a.body.id).not.toBe(b.body.id);
  });

  it("a read key reads but cannot spend", async () => {
    const { body } = await createKey({ name: "dashboard", scopes: ["read"] });
    expect((await api("GET", "/v1/accounts/keys-acct", { key: body.key })).status).toBe(200);
    const debit = await api("POST", "/v1/accounts/keys-acct/debits", { body: { amount: 1 }, key: body.key });
    expect(debit.status).toBe(403);
    expect(debit.body.error.required_scope).toBe("write");
  });

  it("a write key spends but cannot administer", async () => {
    const { body } = await createKey({ name: "worker", scopes: ["write"] });
    expect((await api("GET", "/v1/accounts/keys-acct", { key: body.key })).status).toBe(200);
    expect((await api("POST", "/v1/accounts/keys-acct/debits", { body: { amount: 1 }, key: body.key })).status).toBe(201);
    expect((await api("PUT", "/v1/accounts/keys-acct", { body: { name: "renamed" }, key: body.key })).status).toBe(200);
    const grant = await api("POST", "/v1/accounts/keys-acct/grants", { body: { amount: 5 }, key: body.key });
    expect(grant.status).toBe(403);
    expect(grant.body.error.required_scope).toBe("admin");
    expect((await api("GET", "/v1/api-keys", { key: body.key })).status).toBe(403);
  });

  it("an admin key made through the API can do what the bootstrap key does", async () => {
    const { body } = await createKey({ name: "ops", scopes: ["admin"] });
    expect((await api("POST", "/v1/accounts/keys-acct/grants", { body: { amount: 5 }, key: body.key })).status).toBe(201);
    const child = await createKey({ name: "child", scopes: ["read"] }, body.key);
    expect(child.status).toBe(201);
  });
});

describe("GET /v1/api-keys", () => {
  it("lists keys by id, name, prefix and scopes, never the key or its hash", async () => {
    const created = await createKey({ name: "listed", scopes: ["read", "write"] });
    const res = await api("GET", "/v1/api-keys");
    expect(res.status).toBe(200);
    const listed = res.body.data.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toMatchObject({ id: created.body.id, name: "listed", prefix: created.body.prefix, scopes: ["read", "write"], revoked_at: null });
    expect(typeof listed.created_at).toBe("string");
    for (const k of res.body.data) {
      expect(k).not.toHaveProperty("key");
      expect(k).not.toHaveProperty("hash");
    }
    expect(JSON.stringify(res.body)).not.toContain(created.body.key);
  });
});

describe("DELETE /v1/api-keys/{id}", () => {
  it("revokes: the key then gets 401, and the list shows when", async () => {
    const { body } = await createKey({ name: "leaked", scopes: ["write"] });
    expect((await api("GET", "/v1/accounts/keys-acct", { key: body.key })).status).toBe(200);

    const del = await api("DELETE", `/v1/api-keys/${body.id}`);
    expect(del.status).toBe(200);
    expect(del.body.id).toBe(body.id);
    expect(typeof del.body.revoked_at).toBe("string");

    const after = await api("GET", "/v1/accounts/keys-acct", { key: body.key });
    expect(after.status).toBe(401);
    expect(after.body.error.type).toBe("unauthorized");
    expect((await api("POST", "/v1/accounts/keys-acct/debits", { body: { amount: 1 }, key: body.key })).status).toBe(401);

    const listed = (await api("GET", "/v1/api-keys")).body.data.find((k: { id: string }) => k.id === body.id);
    expect(listed.revoked_at).toBe(del.body.revoked_at);
  });

  it("revoking twice keeps the first revocation time", async () => {
    const { body } = await createKey({ name: "twice", scopes: ["read"] });
    const first = await api("DELETE", `/v1/api-keys/${body.id}`);
    const second = await api("DELETE", `/v1/api-keys/${body.id}`);
    expect(second.status).toBe(200);
    expect(second.body.revoked_at).toBe(first.body.revoked_at);
  });

  it("revoking one key leaves the others working", async () => {
    const keep = await createKey({ name: "keep", scopes: ["read"] });
    const drop = await createKey({ name: "drop", scopes: ["read"] });
    await api("DELETE", `/v1/api-keys/${drop.body.id}`);
    expect((await api("GET", "/v1/accounts/keys-acct", { key: keep.body.key })).status).toBe(200);
  });
});

describe("api key errors", () => {
  it("an unknown scope: 400 naming scopes", async () => {
    const res = await createKey({ name: "bad", scopes: ["superuser"] });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("invalid_request");
    expect(res.body.error.field).toMatch(/^scopes/);
  });

  it("empty scopes: 400 naming scopes", async () => {
    const res = await createKey({ name: "none", scopes: [] });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("scopes");
  });

  it("a missing name: 400 naming name", async () => {
    const res = await createKey({ scopes: ["read"] });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("name");
  });

  it("a refused key is never created", async () => {
    const before = (await api("GET", "/v1/api-keys")).body.data.length;
    await createKey({ name: "bad", scopes: ["superuser"] });
    await createKey({ name: "none", scopes: [] });
    expect((await api("GET", "/v1/api-keys")).body.data.length).toBe(before);
  });

  it.each([["read"], ["write"]])("a %s key cannot create, list or revoke keys (403)", async (scope) => {
    const { body } = await createKey({ name: `${scope} only`, scopes: [scope] });
    const create = await createKey({ name: "escalate", scopes: ["admin"] }, body.key);
    expect(create.status).toBe(403);
    expect(create.body.error.type).toBe("forbidden");
    expect(create.body.error.required_scope).toBe("admin");
    expect((await api("GET", "/v1/api-keys", { key: body.key })).status).toBe(403);
    const victim = await createKey({ name: "victim", scopes: ["read"] });
    expect((await api("DELETE", `/v1/api-keys/${victim.body.id}`, { key: body.key })).status).toBe(403);
    expect((await api("GET", "/v1/accounts/keys-acct", { key: victim.body.key })).status).not.toBe(401);
  });

  it("revoking an unknown id: 404", async () => {
    const res = await api("DELETE", "/v1/api-keys/key_0000000000000000");
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("api_key_not_found");
  });

  it("no key at all: 401", async () => {
    const res = await api("GET", "/v1/api-keys", { key: null });
    expect(res.status).toBe(401);
  });
});
