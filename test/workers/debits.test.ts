import { describe, expect, it, beforeAll } from "vitest";
import { account, api, audit, openAccount } from "./helpers";

describe("POST /v1/accounts/{id}/debits", () => {
  beforeAll(async () => {
    await api("PUT", "/v1/prices/chat.test", {
      body: { rates: { input_tokens: { credits: 250, per: 1_000_000 }, output_tokens: { credits: 1000, per: 1_000_000 } } },
    });
  });

  it("debits an exact amount and says what it cost and what is left, in body and headers", async () => {
    await openAccount("debit-exact", 1000);
    const res = await api("POST", "/v1/accounts/debit-exact/debits", { body: { amount: 125, description: "summary" } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ cost: 125, balance: 875, available: 875 });
    expect(res.body.entry_id).toMatch(/^ent_/);
    expect(res.headers.get("Credits-Cost")).toBe("125");
    expect(res.headers.get("Credits-Balance")).toBe("875");
    expect((await account("debit-exact")).balance).toBe(875);
  });

  it("prices an operation from its quantities, rounding the total up once", async () => {
    await openAccount("debit-priced", 1000);
    // 1,000 input tokens (0.25 credits) + 1,000 output tokens (1 credit) = 1.25 → 2, not 1 + 1 = 2 by luck:
    // 3,000 + 3,000 tokens = 0.75 + 3 = 3.75 → 4 (rounding each line up would give 1 + 3 = 4 too), so use 1,001.
    const res = await api("POST", "/v1/accounts/debit-priced/debits", {
      body: { operation: "chat.test", quantities: { input_tokens: 1001, output_tokens: 1001 } },
    });
    expect(res.status).toBe(201);
    // exact: 0.25025 + 1.001 = 1.25125 → 2 (per-line ceil would be 1 + 2 = 3)
    expect(res.body.cost).toBe(2);
    expect(res.body.balance).toBe(998);
  });

  it("refuses with 402 insufficient_credits, saying what was required and what is available", async () => {
    await openAccount("debit-poor", 10);
    const res = await api("POST", "/v1/accounts/debit-poor/debits", { body: { amount: 11 } });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ type: "insufficient_credits", required: 11, available: 10 });
    expect(await audit("debit-poor")).toMatchObject({ balance: 10, journalSum: 10 });
  });

  it("counts held credits as unavailable", async () => {
    await openAccount("debit-held", 100);
    expect((await api("POST", "/v1/accounts/debit-held/holds", { body: { amount: 60 } })).status).toBe(201);
    const res = await api("POST", "/v1/accounts/debit-held/debits", { body: { amount: 50 } });
    expect(res.status).toBe(402);
    expect(res.body.error.available).toBe(40);
    expect((await api("POST", "/v1/accounts/debit-held/debits", { body: { amount: 40 } })).status).toBe(201);
  });

  it("refuses while the account is in debt, before any other reason", async () => {
    await openAccount("debit-debt", 50);
    const hold = await api("POST", "/v1/accounts/debit-debt/holds", { body: { amount: 40 } });
    const cap = await api("POST", `/v1/accounts/debit-debt/holds/${hold.body.hold_id}/capture`, { body: { amount: 80 } });
    expect(cap.body).toMatchObject({ overrun: 30, balance: -30 });
    // A limit the debit would also pass: the debt is still the reason given.
    await api("PUT", "/v1/accounts/debit-debt/limits", { body: { daily: 1 } });
    const res = await api("POST", "/v1/accounts/debit-debt/debits", { body: { amount: 5 } });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ type: "account_in_debt", debt: 30 });
  });
});
