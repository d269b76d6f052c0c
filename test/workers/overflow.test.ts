import { describe, expect, it } from "vitest";
import { account, api, books, openAccount } from "./helpers";

describe("amounts past 2^53 - 1", () => {
  it("a grant that would push the balance past the largest safe integer is refused and changes nothing", async () => {
    const top = Number.MAX_SAFE_INTEGER - 10;
    await openAccount("overflow", top);
    const before = await books("overflow");
    const res = await api("POST", "/v1/accounts/overflow/grants", { body: { amount: 100 } });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("amount_too_large");
    expect(await books("overflow")).toEqual(before);
    // The object still works afterwards, from state that matches what was committed.
    expect((await api("POST", "/v1/accounts/overflow/debits", { body: { amount: 5 } })).body.balance).toBe(top - 5);
    expect((await account("overflow")).lots).toHaveLength(1);
  });
});
