import { beforeAll, describe, expect, it } from "vitest";
import { account, api, books, flush, historyOf, openAccount, steadyClock } from "./helpers";

const debit = (id: string, amount: number) => api("POST", `/v1/accounts/${id}/debits`, { body: { amount } });
const limits = (id: string, body: unknown) => api("PUT", `/v1/accounts/${id}/limits`, { body });
const alerts = (id: string, body: unknown) => api("PUT", `/v1/accounts/${id}/alerts`, { body });

/** The `balance.low` events D1 holds for an account. */
async function lowBalanceEvents(id: string): Promise<{ type: string; data: string }[]> {
  const rows = await (await historyOf(id)).prepare("SELECT type, data FROM account_events WHERE account_id = ? AND type = 'balance.low'").bind(id).all();
  return rows.results as { type: string; data: string }[];
}

async function expect402(res: Promise<{ status: number; body: any }>, type: string) {
  const r = await res;
  expect(r.status, JSON.stringify(r.body)).toBe(402);
  expect(r.body.error.type).toBe(type);
  expect(typeof r.body.error.message).toBe("string");
  return r.body.error;
}

// Tests that spend and then expect the spending to count "today" or "this month" run the object on
// steadyClock(): the real clock could pass midnight (or the 1st) between two requests.
describe("PUT /v1/accounts/{id}/limits", () => {
  it("a debit that would pass the daily limit gets 402 spending_limit_exceeded and changes nothing", async () => {
    await steadyClock("lim-daily");
    await openAccount("lim-daily", 1000);
    const set = await limits("lim-daily", { daily: 100 });
    expect(set.status).toBe(200);
    expect(set.body.limits).toMatchObject({ daily: 100, monthly: null });

    expect((await debit("lim-daily", 60)).status).toBe(201);
    const before = await books("lim-daily");
    const error = await expect402(debit("lim-daily", 50), "spending_limit_exceeded");
    expect(error).toMatchObject({ required: 50, available: 940 });
    expect(await books("lim-daily")).toEqual(before);

    // Up to the limit exactly is fine.
    expect((await debit("lim-daily", 40)).status).toBe(201);
    await expect402(debit("lim-daily", 1), "spending_limit_exceeded");
    expect(await account("lim-daily")).toMatchObject({ balance: 900, limits: { daily: 100, spent_today: 100 } });
  });

  it("a monthly limit refuses the same way", async () => {
    await steadyClock("lim-monthly");
    await openAccount("lim-monthly", 1000);
    await limits("lim-monthly", { monthly: 50 });
    expect((await debit("lim-monthly", 30)).status).toBe(201);
    await expect402(debit("lim-monthly", 30), "spending_limit_exceeded");
  });

  it("the limit also refuses a hold that would pass it", async () => {
    await openAccount("lim-hold", 1000);
    await limits("lim-hold", { daily: 100 });
    await expect402(api("POST", "/v1/accounts/lim-hold/holds", { body: { amount: 101 } }), "spending_limit_exceeded");
  });

  it("active holds count against the limit until they are released", async () => {
    await steadyClock("lim-holds-count");
    await openAccount("lim-holds-count", 1000);
    await limits("lim-holds-count", { daily: 100 });
    const hold = await api("POST", "/v1/accounts/lim-holds-count/holds", { body: { amount: 80 } });
    expect(hold.status).toBe(201);
    await expect402(debit("lim-holds-count", 30), "spending_limit_exceeded");
    await expect402(api("POST", "/v1/accounts/lim-holds-count/holds", { body: { amount: 30 } }), "spending_limit_exceeded");
    expect((await debit("lim-holds-count", 20)).status).toBe(201);

    expect((await api("POST", `/v1/accounts/lim-holds-count/holds/${hold.body.hold_id}/release`)).status).toBe(200);
    expect((await debit("lim-holds-count", 30)).status).toBe(201);
  });

  it("null removes a limit, and a field left out keeps it", async () => {
    await steadyClock("lim-remove");
    await openAccount("lim-remove", 1000);
    await limits("lim-remove", { daily: 50, monthly: 500 });
    const kept = await limits("lim-remove", { monthly: 400 });
    expect(kept.status).toBe(200);
    expect(kept.body.limits).toMatchObject({ daily: 50, monthly: 400 });

    expect((await debit("lim-remove", 40)).status).toBe(201);
    await expect402(debit("lim-remove", 20), "spending_limit_exceeded");

    const removed = await limits("lim-remove", { daily: null });
    expect(removed.status).toBe(200);
    expect(removed.body.limits).toMatchObject({ daily: null, monthly: 400 });
    expect((await debit("lim-remove", 20)).status).toBe(201);
    expect((await account("lim-remove")).limits).toMatchObject({ daily: null, monthly: 400 });
  });

  it("changing the account's time_zone does not forget what was spent today", async () => {
    // Kiritimati (UTC+14) and Pago Pago (UTC-11) are 25 hours apart: their calendar dates always differ.
    const ID = "lim-time-zone";
    await steadyClock(ID);
    await openAccount(ID, 1000);
    await api("PUT", `/v1/accounts/${ID}`, { body: { time_zone: "Pacific/Kiritimati" } });
    await limits(ID, { daily: 100 });
    expect((await debit(ID, 100)).status).toBe(201);
    await expect402(debit(ID, 1), "spending_limit_exceeded");

    await api("PUT", `/v1/accounts/${ID}`, { body: { time_zone: "Pacific/Pago_Pago" } });
    expect((await account(ID)).limits).toMatchObject({ daily: 100, spent_today: 100 });
    await expect402(debit(ID, 100), "spending_limit_exceeded");
    expect((await account(ID)).balance).toBe(900);
  });

  it("a limit of 0 refuses every debit", async () => {
    await openAccount("lim-zero", 100);
    await limits("lim-zero", { daily: 0 });
    await expect402(debit("lim-zero", 1), "spending_limit_exceeded");
  });
});

describe("402 order (API.md, Spending)", () => {
  it("spending_limit_exceeded wins over insufficient_credits", async () => {
    await openAccount("order-limit", 30);
    await limits("order-limit", { daily: 50 });
    // 60 passes the limit and is above the 30 available: the limit is named.
    await expect402(debit("order-limit", 60), "spending_limit_exceeded");
    // 40 is within the limit but above what is available.
    await expect402(debit("order-limit", 40), "insufficient_credits");
  });

  it("account_in_debt wins over spending_limit_exceeded and insufficient_credits", async () => {
    await openAccount("order-debt", 100);
    const hold = await api("POST", "/v1/accounts/order-debt/holds", { body: { amount: 100 } });
    const capture = await api("POST", `/v1/accounts/order-debt/holds/${hold.body.hold_id}/capture`, { body: { amount: 150 } });
    expect(capture.body).toMatchObject({ balance: -50, overrun: 50 });
    await limits("order-debt", { daily: 10 });
    // 20 is past the limit (150 already spent) and above what is available (-50): debt is named.
    const error = await expect402(debit("order-debt", 20), "account_in_debt");
    expect(error).toMatchObject({ required: 20, available: -50 });
  });
});

describe("PUT /v1/accounts/{id}/alerts", () => {
  it("low_balance.is_low flips when a debit takes the balance below the threshold, and balance.low is recorded once", async () => {
    const ID = "alert-low";
    await openAccount(ID, 100);
    const set = await alerts(ID, { low_balance_threshold: 50 });
    expect(set.status).toBe(200);
    expect(set.body.low_balance).toEqual({ threshold: 50, is_low: false });

    expect((await debit(ID, 50)).status).toBe(201);
    // At the threshold is not below it.
    expect((await account(ID)).low_balance).toEqual({ threshold: 50, is_low: false });
    expect((await debit(ID, 1)).status).toBe(201);
    expect((await account(ID)).low_balance).toEqual({ threshold: 50, is_low: true });

    await flush(ID);
    const first = await lowBalanceEvents(ID);
    expect(first).toHaveLength(1);
    expect(JSON.parse(first[0]!.data)).toMatchObject({ balance: 49, threshold: 50 });

    for (const amount of [5, 5, 5]) expect((await debit(ID, amount)).status).toBe(201);
    await flush(ID);
    expect(await lowBalanceEvents(ID)).toHaveLength(1);
    expect((await account(ID)).low_balance.is_low).toBe(true);
  });

  it("setting a threshold above the balance makes it low at once", async () => {
    const ID = "alert-already-low";
    await openAccount(ID, 20);
    const set = await alerts(ID, { low_balance_threshold: 100 });
    expect(set.body.low_balance).toEqual({ threshold: 100, is_low: true });
    expect((await account(ID)).low_balance.is_low).toBe(true);
    await flush(ID);
    expect(await lowBalanceEvents(ID)).toHaveLength(1);
  });

  it("credits bring it back above, and the next fall is reported again", async () => {
    const ID = "alert-recross";
    await openAccount(ID, 100);
    await alerts(ID, { low_balance_threshold: 50 });
    await debit(ID, 60);
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 100 } });
    expect((await account(ID)).low_balance.is_low).toBe(false);
    await debit(ID, 120);
    expect((await account(ID)).low_balance.is_low).toBe(true);
    await flush(ID);
    expect(await lowBalanceEvents(ID)).toHaveLength(2);
  });

  it("null removes the threshold", async () => {
    const ID = "alert-remove";
    await openAccount(ID, 10);
    await alerts(ID, { low_balance_threshold: 50 });
    const removed = await alerts(ID, { low_balance_threshold: null });
    expect(removed.status).toBe(200);
    expect(removed.body.low_balance).toEqual({ threshold: null, is_low: false });
  });
});

describe("control errors", () => {
  beforeAll(async () => {
    await openAccount("ctl-errors", 100);
    expect((await limits("ctl-errors", { daily: 70 })).status).toBe(200);
  });

  it("a negative limit: 400 naming the field, and the limit does not change", async () => {
    const res = await limits("ctl-errors", { daily: -1 });
    expect(res.status).toBe(400);
    expect(res.body.error.type).toBe("invalid_request");
    expect(res.body.error.field).toBe("daily");
    const monthly = await limits("ctl-errors", { monthly: 1.5 });
    expect(monthly.status).toBe(400);
    expect(monthly.body.error.field).toBe("monthly");
    expect((await account("ctl-errors")).limits).toMatchObject({ daily: 70, monthly: null });
  });

  it("an unknown field: 400 naming it", async () => {
    const res = await limits("ctl-errors", { weekly: 10 });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("weekly");
  });

  it("a negative threshold: 400 naming it", async () => {
    const res = await alerts("ctl-errors", { low_balance_threshold: -5 });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe("low_balance_threshold");
  });

  it("an unknown account: 404 for limits and alerts, and no account springs into being", async () => {
    const lim = await limits("ctl-nobody", { daily: 10 });
    expect(lim.status).toBe(404);
    expect(lim.body.error.type).toBe("account_not_found");
    const al = await alerts("ctl-nobody", { low_balance_threshold: 10 });
    expect(al.status).toBe(404);
    expect(al.body.error.type).toBe("account_not_found");
    expect((await api("GET", "/v1/accounts/ctl-nobody")).status).toBe(404);
  });

  it("a read key cannot change controls (403)", async () => {
    const reader = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    const res = await api("PUT", "/v1/accounts/ctl-errors/limits", { body: { daily: null }, key: reader.body.key });
    expect(res.status).toBe(403);
    expect((await account("ctl-errors")).limits.daily).toBe(70);
  });
});
