import { describe, expect, it } from "vitest";
import { account, api, openAccount } from "./helpers";

const writerKey = async () => {
  const created = await api("POST", "/v1/api-keys", { body: { name: "writer", scopes: ["write"] } });
  expect(created.status).toBe(201);
  return created.body.key as string;
};

describe("PUT /v1/prices/{operation}", () => {
  it("sets a price that GET /v1/prices then lists", async () => {
    const rates = { input_tokens: { credits: 250, per: 1_000_000 }, output_tokens: { credits: 1000, per: 1_000_000 } };
    const put = await api("PUT", "/v1/prices/chat.listed", { body: { rates, description: "Chat, listed" } });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ operation: "chat.listed", rates, description: "Chat, listed" });

    const list = await api("GET", "/v1/prices");
    expect(list.status).toBe(200);
    expect(list.body.data).toContainEqual({ operation: "chat.listed", rates, description: "Chat, listed" });
  });

  it("a read key can list prices", async () => {
    await api("PUT", "/v1/prices/img.listed", { body: { rates: { images: { credits: 5, per: 1 } } } });
    const reader = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    const list = await api("GET", "/v1/prices", { key: reader.body.key });
    expect(list.status).toBe(200);
    expect(list.body.data).toContainEqual({ operation: "img.listed", rates: { images: { credits: 5, per: 1 } }, description: null });
  });

  it("a second PUT replaces the price, and the list holds it once", async () => {
    await api("PUT", "/v1/prices/replace.me", { body: { rates: { units: { credits: 1, per: 1 } } } });
    await api("PUT", "/v1/prices/replace.me", { body: { rates: { units: { credits: 3, per: 1 } } } });
    const list = await api("GET", "/v1/prices");
    const rows = list.body.data.filter((p: { operation: string }) => p.operation === "replace.me");
    expect(rows).toEqual([{ operation: "replace.me", rates: { units: { credits: 3, per: 1 } }, description: null }]);
  });

  it("the next debit in this isolate pays the new price", async () => {
    await openAccount("price-change", 1000);
    await api("PUT", "/v1/prices/resize", { body: { rates: { images: { credits: 2, per: 1 } } } });
    const first = await api("POST", "/v1/accounts/price-change/debits", { body: { operation: "resize", quantities: { images: 10 } } });
    expect(first.status).toBe(201);
    expect(first.body.cost).toBe(20);

    expect((await api("PUT", "/v1/prices/resize", { body: { rates: { images: { credits: 7, per: 1 } } } })).status).toBe(200);
    const second = await api("POST", "/v1/accounts/price-change/debits", { body: { operation: "resize", quantities: { images: 10 } } });
    expect(second.status).toBe(201);
    expect(second.body.cost).toBe(70);
    expect((await account("price-change")).balance).toBe(1000 - 20 - 70);
  });

  it("a new operation can be debited at once", async () => {
    await openAccount("price-new-op", 100);
    await api("PUT", "/v1/prices/brand.new", { body: { rates: { calls: { credits: 4, per: 1 } } } });
    const res = await api("POST", "/v1/accounts/price-new-op/debits", { body: { operation: "brand.new", quantities: { calls: 2 } } });
    expect(res.status).toBe(201);
    expect(res.body.cost).toBe(8);
  });
});

describe("price errors", () => {
  const expect400 = async (body: unknown, field: string) => {
    const res = await api("PUT", "/v1/prices/bad.price", { body });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.type).toBe("invalid_request");
    expect(res.body.error.field).toBe(field);
    return res;
  };

  it("a write key cannot set a price (403), and the price does not change", async () => {
    await api("PUT", "/v1/prices/guarded", { body: { rates: { units: { credits: 1, per: 1 } } } });
    const res = await api("PUT", "/v1/prices/guarded", { body: { rates: { units: { credits: 0, per: 1 } } }, key: await writerKey() });
    expect(res.status).toBe(403);
    expect(res.body.error.type).toBe("forbidden");
    expect(res.body.error.required_scope).toBe("admin");
    const list = await api("GET", "/v1/prices");
    expect(list.body.data).toContainEqual({ operation: "guarded", rates: { units: { credits: 1, per: 1 } }, description: null });
  });

  it("per: 0 is a 400 naming the field", () => expect400({ rates: { tokens: { credits: 1, per: 0 } } }, "rates.tokens.per"));

  it("empty rates is a 400 naming rates", () => expect400({ rates: {} }, "rates"));

  it("missing rates is a 400 naming rates", () => expect400({ description: "no rates" }, "rates"));

  it("an unknown field is a 400 naming it", () => expect400({ rates: { tokens: { credits: 1, per: 1 } }, currency: "usd" }, "currency"));

  it("an unknown field inside a rate is a 400 naming it", () =>
    expect400({ rates: { tokens: { credits: 1, per: 1, minimum: 5 } } }, "rates.tokens.minimum"));

  it("negative or fractional credits are a 400", async () => {
    await expect400({ rates: { tokens: { credits: -1, per: 1 } } }, "rates.tokens.credits");
    await expect400({ rates: { tokens: { credits: 1.5, per: 1 } } }, "rates.tokens.credits");
  });

  it("a refused price is not listed", async () => {
    const list = await api("GET", "/v1/prices");
    expect(list.body.data.map((p: { operation: string }) => p.operation)).not.toContain("bad.price");
  });
});
