import { beforeAll, describe, expect, it } from "vitest";
import { api, expectRefused, openAccount, type Answer } from "./helpers";

// A charge must cost something, and no name in a body is silently dropped.

const ID = "zero-cost";

const expectUnchanged = (send: () => Promise<Answer>, status: number, type: string) => expectRefused(ID, send, status, type);

describe("zero-cost charges", () => {
  beforeAll(async () => {
    await openAccount(ID, 100);
    await api("PUT", "/v1/prices/zc.chat", { body: { rates: { input_tokens: { credits: 1, per: 1000 }, requests: { credits: 0, per: 1 } } } });
  });

  it.each([
    ["no quantities", {}],
    ["all zeros", { input_tokens: 0 }],
    ["a free quantity only", { requests: 3 }],
  ])("a debit priced at 0 (%s) is a 400 zero_cost that says why", async (_name, quantities) => {
    const res = await expectUnchanged(() => api("POST", `/v1/accounts/${ID}/debits`, { body: { operation: "zc.chat", quantities } }), 400, "zero_cost");
    expect(res.body.error.message).toMatch(/0 credits/);
  });

  it("a hold priced at 0 is a 400 zero_cost", async () => {
    await expectUnchanged(() => api("POST", `/v1/accounts/${ID}/holds`, { body: { operation: "zc.chat", quantities: {} } }), 400, "zero_cost");
  });

  it("a zero_cost answer is not kept: the corrected request with the same key runs", async () => {
    const idem = "zc-corrected";
    await expectUnchanged(() => api("POST", `/v1/accounts/${ID}/debits`, { body: { operation: "zc.chat", quantities: {} }, idem }), 400, "zero_cost");
    const fixed = await api("POST", `/v1/accounts/${ID}/debits`, { body: { operation: "zc.chat", quantities: { input_tokens: 1500 } }, idem });
    expect(fixed.status).toBe(201);
    expect(fixed.body.cost).toBe(2);
  });

  it("a capture of 0 is still allowed: the work produced nothing billable", async () => {
    const hold = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 5 } });
    const res = await api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/capture`, { body: { amount: 0 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cost: 0, released: 5 });
  });
});

describe("reserved names", () => {
  beforeAll(() => openAccount(ID, 100));

  it.each([
    ["quantities.__proto__", '{"operation":"zc.chat","quantities":{"__proto__":5}}'],
    ["quantities.constructor", '{"operation":"zc.chat","quantities":{"constructor":5}}'],
    ["quantities.prototype", '{"operation":"zc.chat","quantities":{"input_tokens":5,"prototype":1}}'],
    ["metadata.__proto__", '{"amount":1,"metadata":{"__proto__":"x"}}'],
    ["metadata.constructor", '{"amount":1,"metadata":{"constructor":"x"}}'],
    ["quantities.__proto__", '{"operation":"zc.chat","quantities":{"__pr\\u006fto__":5}}'],
  ])("%s in a debit is a 400 naming it, never dropped", async (field, raw) => {
    const res = await expectUnchanged(() => api("POST", `/v1/accounts/${ID}/debits`, { raw }), 400, "invalid_request");
    expect(res.body.error.field).toBe(field);
  });

  it("a price with a rate named prototype is a 400 naming it", async () => {
    const res = await api("PUT", "/v1/prices/zc.bad", { raw: '{"rates":{"prototype":{"credits":1,"per":1}}}' });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("rates.prototype");
    expect((await api("GET", "/v1/prices")).body.data.map((p: { operation: string }) => p.operation)).not.toContain("zc.bad");
  });

  it("the words are fine as values", async () => {
    const res = await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 1, description: "constructor", metadata: { kind: "__proto__" } } });
    expect(res.status).toBe(201);
  });
});
