import { describe, expect, it } from "vitest";
import { account, api, d1Entries, flush, historyOf, openAccount, steadyClock } from "./helpers";

// A capture is never refused (the work happened), but it is charged at most its hold plus the overrun
// allowance (CAPTURE_OVERRUN_MAX_PERCENT, 100 here as in wrangler.toml), and what it charges counts
// toward the spending limits.

const hold = (id: string, amount: number) => api("POST", `/v1/accounts/${id}/holds`, { body: { amount } });
const capture = (id: string, holdId: string, body: unknown) => api("POST", `/v1/accounts/${id}/holds/${holdId}/capture`, { body });

async function limitEvents(id: string) {
  const rows = await (await historyOf(id)).prepare("SELECT data FROM account_events WHERE account_id = ? AND type = 'spending_limit.reached' ORDER BY seq")
    .bind(id)
    .all<{ data: string }>();
  return rows.results.map((r) => JSON.parse(r.data));
}

describe("a capture far above its hold", () => {
  it("with limits daily 100 / monthly 200, a hold of 1 captured at 9,000 charges 2 and says what it did not charge", async () => {
    const ID = "overrun-limited";
    await steadyClock(ID); // spends "today" across several requests: midnight must not fall between them
    await openAccount(ID, 10_000);
    expect((await api("PUT", `/v1/accounts/${ID}/limits`, { body: { daily: 100, monthly: 200 } })).status).toBe(200);
    expect((await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 101 } })).status).toBe(402);

    const h = await hold(ID, 1);
    const res = await capture(ID, h.body.hold_id, { amount: 9000, metadata: { request_id: "r-9000" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cost: 2, uncharged: 8998, released: 0, overrun: 0, balance: 9998 });
    expect(res.headers.get("Credits-Cost")).toBe("2");
    const a = await account(ID);
    expect(a.limits).toMatchObject({ spent_today: 2, spent_this_month: 2 });

    await flush(ID);
    const listed = await api("GET", `/v1/accounts/${ID}/entries?kind=capture`);
    expect(listed.body.data[0]).toMatchObject({
      amount: -2,
      metadata: { request_id: "r-9000", computed_cost: 9000, uncharged: 8998 },
    });
  });

  it("its charged excess counts toward the limit and raises spending_limit.reached once", async () => {
    const ID = "overrun-crosses";
    await steadyClock(ID); // spends "today" across several requests: midnight must not fall between them
    await openAccount(ID, 1000);
    await api("PUT", `/v1/accounts/${ID}/limits`, { body: { daily: 100 } });
    const first = await hold(ID, 60);
    const second = await hold(ID, 20);
    expect((await capture(ID, first.body.hold_id, { amount: 110 })).body).toMatchObject({ cost: 110, uncharged: 0 });
    // The day is already past its limit by more than this hold's allowance: only the hold is charged.
    expect((await capture(ID, second.body.hold_id, { amount: 30 })).body).toMatchObject({ cost: 20, uncharged: 10 });
    expect((await account(ID)).limits.spent_today).toBe(130);
    const refused = await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 1 } });
    expect(refused.status).toBe(402);
    expect(refused.body.error.type).toBe("spending_limit_exceeded");

    await flush(ID);
    expect(await limitEvents(ID)).toEqual([{ period: "daily", limit: 100, committed: 130 }]);
  });

  it("becomes debt only where the credits do not cover it", async () => {
    const ID = "overrun-debt";
    await openAccount(ID, 50);
    const h = await hold(ID, 40);
    const res = await capture(ID, h.body.hold_id, { amount: 200 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cost: 80, uncharged: 120, overrun: 30, balance: -30, debt: 30 });
    await flush(ID);
    expect((await d1Entries(ID)).map((e) => e.amount)).toEqual([50, 0, -80]);
  });
});
