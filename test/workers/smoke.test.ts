import { describe, expect, it } from "vitest";
import { account, api, openAccount } from "./helpers";

describe("smoke", () => {
  it("creates, grants, debits", async () => {
    await openAccount("smoke", 100);
    const d = await api("POST", "/v1/accounts/smoke/debits", { body: { amount: 30 } });
    expect(d.status, JSON.stringify(d.body)).toBe(201);
    expect(d.body.balance).toBe(70);
    const a = await account("smoke");
    expect(a.balance).toBe(70);
  });
});
