import { beforeAll, describe, expect, it } from "vitest";
import { account, api, audit, flush, d1Entries, openAccount } from "./helpers";

const quote = (id: string, body: unknown) => api("POST", `/v1/accounts/${id}/quote`, { body });

describe("POST /v1/accounts/{id}/quote", () => {
  beforeAll(async () => {
    const third = { credits: 1, per: 3 };
    expect((await api("PUT", "/v1/prices/thirds", { body: { rates: { a: third, b: third, c: third } } })).status).toBe(200);
    expect((await api("PUT", "/v1/prices/per.image", { body: { rates: { images: { credits: 10, per: 1 } } } })).status).toBe(200);
  });

  it("rounds up once over the sum, with a line per quantity", async () => {
    await openAccount("quote-thirds", 100);
    const res = await quote("quote-thirds", { operation: "thirds", quantities: { a: 1, b: 1, c: 1 } });
    expect(res.status).toBe(200);
    // 1/3 + 1/3 + 1/3 = 1 exactly; rounding each line up would say 3.
    expect(res.body.cost).toBe(1);
    expect(res.body.breakdown).toHaveLength(3);
    expect(res.body.breakdown.map((l: { quantity: string }) => l.quantity).sort()).toEqual(["a", "b", "c"]);
    for (const line of res.body.breakdown) {
      expect(line.units).toBe(1);
      // Exact, never a float: a third of a credit is shown as the fraction it is.
      expect(line.cost).toBe("1/3");
    }
    expect(res.body).toMatchObject({ balance: 100, available: 100, affordable: true, available_after: 99 });
  });

  it("a fraction of a credit costs one whole credit", async () => {
    await openAccount("quote-fraction", 100);
    const res = await quote("quote-fraction", { operation: "thirds", quantities: { a: 1 } });
    expect(res.body.cost).toBe(1);
    expect(res.body.breakdown).toEqual([expect.objectContaining({ quantity: "a", units: 1 })]);
  });

  it("quotes an exact amount", async () => {
    await openAccount("quote-amount", 100);
    const res = await quote("quote-amount", { amount: 30 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cost: 30, balance: 100, available: 100, affordable: true, available_after: 70, remaining_operations: 3 });
    expect(res.body.breakdown).toEqual([]);
  });

  it("says not affordable, and why, when the cost is above what is available", async () => {
    await openAccount("quote-too-dear", 50);
    const hold = await api("POST", "/v1/accounts/quote-too-dear/holds", { body: { amount: 20 } });
    expect(hold.status).toBe(201);
    const res = await quote("quote-too-dear", { operation: "per.image", quantities: { images: 4 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      cost: 40,
      balance: 50,
      available: 30,
      affordable: false,
      reason: "insufficient_credits",
      available_after: -10,
    });
  });

  it("names the spending limit when the quote would pass it", async () => {
    await openAccount("quote-limit", 1000);
    await api("PUT", "/v1/accounts/quote-limit/limits", { body: { daily: 15 } });
    const res = await quote("quote-limit", { operation: "per.image", quantities: { images: 2 } });
    expect(res.body).toMatchObject({ cost: 20, available: 1000, affordable: false, reason: "spending_limit_exceeded" });
    expect((await quote("quote-limit", { amount: 15 })).body).toMatchObject({ affordable: true, reason: null });
  });

  it("says account_in_debt when the balance is below 0", async () => {
    await openAccount("quote-debt", 10);
    const hold = await api("POST", "/v1/accounts/quote-debt/holds", { body: { amount: 10 } });
    await api("POST", `/v1/accounts/quote-debt/holds/${hold.body.hold_id}/capture`, { body: { amount: 20 } });
    const res = await quote("quote-debt", { amount: 1 });
    expect(res.body).toMatchObject({ balance: -10, affordable: false, reason: "account_in_debt", remaining_operations: 0 });
  });

  it("available_after takes active holds into account", async () => {
    await openAccount("quote-held", 100);
    await api("POST", "/v1/accounts/quote-held/holds", { body: { amount: 25 } });
    const res = await quote("quote-held", { amount: 10 });
    expect(res.body).toMatchObject({ balance: 100, available: 75, available_after: 65, affordable: true });
  });

  it("remaining_operations uses the quote's cost when the account has no history of the operation", async () => {
    await openAccount("quote-remaining-fresh", 95);
    const res = await quote("quote-remaining-fresh", { operation: "per.image", quantities: { images: 2 } });
    expect(res.body.cost).toBe(20);
    expect(res.body.remaining_operations).toBe(4);
  });

  it("remaining_operations uses this operation's own average cost in the account's history", async () => {
    await openAccount("quote-remaining-history", 1000);
    // Two debits of per.image at 10 and 50 credits: an average of 30.
    for (const images of [1, 5]) {
      const res = await api("POST", "/v1/accounts/quote-remaining-history/debits", { body: { operation: "per.image", quantities: { images } } });
      expect(res.status).toBe(201);
    }
    // Another operation's spending does not change per.image's average.
    await api("POST", "/v1/accounts/quote-remaining-history/debits", { body: { operation: "thirds", quantities: { a: 3 } } });
    await api("POST", "/v1/accounts/quote-remaining-history/debits", { body: { amount: 9 } });
    expect((await account("quote-remaining-history")).available).toBe(1000 - 10 - 50 - 1 - 9);

    const res = await quote("quote-remaining-history", { operation: "per.image", quantities: { images: 1 } });
    expect(res.body.cost).toBe(10);
    // 930 available / 30 average = 31 (at this quote's own cost of 10 it would say 93).
    expect(res.body.remaining_operations).toBe(31);
  });

  it("remaining_operations is exact when the average is not a whole number", async () => {
    await api("PUT", "/v1/prices/per.unit", { body: { rates: { units: { credits: 1, per: 1 } } } });
    await openAccount("quote-remaining-exact", 42);
    // Three operations costing 2, 2 and 3: an average of 7/3 credits.
    for (const units of [2, 2, 3]) {
      expect((await api("POST", "/v1/accounts/quote-remaining-exact/debits", { body: { operation: "per.unit", quantities: { units } } })).status).toBe(201);
    }
    const res = await quote("quote-remaining-exact", { operation: "per.unit", quantities: { units: 1 } });
    expect(res.body.available).toBe(35);
    // 35 / (7/3) = 15 exactly.
    expect(res.body.remaining_operations).toBe(15);
  });

  it("a quote charges nothing and writes nothing", async () => {
    await openAccount("quote-free", 200);
    await flush("quote-free");
    const before = await audit("quote-free");
    const rowsBefore = await d1Entries("quote-free");
    for (let i = 0; i < 3; i++) {
      expect((await quote("quote-free", { operation: "per.image", quantities: { images: 3 } })).status).toBe(200);
      expect((await quote("quote-free", { amount: 500 })).status).toBe(200);
    }
    expect(await audit("quote-free")).toEqual(before);
    expect((await account("quote-free")).balance).toBe(200);
    await flush("quote-free");
    expect(await d1Entries("quote-free")).toEqual(rowsBefore);
  });

  it("a read key may ask for a quote", async () => {
    await openAccount("quote-read-key", 10);
    const reader = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    const res = await api("POST", "/v1/accounts/quote-read-key/quote", { body: { amount: 5 }, key: reader.body.key });
    expect(res.status).toBe(200);
    expect(res.body.affordable).toBe(true);
  });
});

describe("quote errors", () => {
  it("an unknown operation is a 400 naming the field", async () => {
    await openAccount("quote-errors", 10);
    const res = await quote("quote-errors", { operation: "no.such.op", quantities: { a: 1 } });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("unknown_operation");
    expect(res.body.error.field).toBe("operation");
  });

  it("an unknown account is a 404", async () => {
    const res = await quote("quote-nobody", { amount: 5 });
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("account_not_found");
    expect((await api("GET", "/v1/accounts/quote-nobody")).status).toBe(404);
  });

  it("an operation without quantities is a 400 naming quantities", async () => {
    const res = await quote("quote-errors", { operation: "per.image" });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("invalid_request");
    expect(res.body.error.field).toBe("quantities");
  });

  it("neither amount nor operation is a 400", async () => {
    const res = await quote("quote-errors", {});
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("amount");
  });
});
