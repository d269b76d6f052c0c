import { describe, expect, it } from "vitest";
import { account, api, audit, d1Entries, flush, openAccount } from "./helpers";

describe("concurrent debits on one account", () => {
  it("200 debits of 1 against a balance of 100: exactly 100 succeed, 100 get 402, nothing is lost", async () => {
    await openAccount("race", 100);
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => api("POST", "/v1/accounts/race/debits", { body: { amount: 1 } })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(100);
    expect(statuses.filter((s) => s === 402)).toHaveLength(100);
    for (const refused of answers.filter((a) => a.status === 402)) {
      expect(refused.body.error.type).toBe("insufficient_credits");
    }
    // Every successful answer saw a distinct balance: the debits were serialized.
    const balances = answers.filter((a) => a.status === 201).map((a) => a.body.balance);
    expect(new Set(balances).size).toBe(100);
    expect((await account("race")).balance).toBe(0);

    await flush("race");
    const debits = (await d1Entries("race")).filter((e) => e.kind === "debit");
    expect(debits).toHaveLength(100);
    expect(debits.reduce((sum, e) => sum + e.amount, 0)).toBe(-100);
    expect(await audit("race")).toMatchObject({ journalSum: 0, balance: 0 });
  });
});
