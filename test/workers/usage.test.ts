import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { dayKey } from "../../durable-objects/ledger/limits";
import { api, flush, ledger, openAccount, steadyClock } from "./helpers";

interface Line {
  period: string;
  operation: string | null;
  count: number;
  credits: number;
}

interface Usage {
  granularity: string;
  from: string;
  to: string;
  time_zone: string;
  data: Line[];
  error?: { type: string; message: string; field?: string };
}

const usage = (id: string, query = "", key?: string | null) => api<Usage>("GET", `/v1/accounts/${id}/usage${query}`, key === undefined ? {} : { key });

/** The usage lines as [period, operation, count, credits], for tables that read like the test's own. */
async function table(id: string, query: string): Promise<[string, string | null, number, number][]> {
  const res = await usage(id, query);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.map((l) => [l.period, l.operation, l.count, l.credits]);
}

// Every change the object makes from here on is stamped `at` (years ahead, so none of its alarms comes
// due on its own: flush() runs them).
const setClock = (id: string, at: string) =>
  runInDurableObject(ledger(id), (instance: AccountLedger) => {
    instance.clock = () => Date.parse(at);
  });

const debit = async (id: string, body: unknown) => expect((await api("POST", `/v1/accounts/${id}/debits`, { body })).status).toBe(201);

async function holdAndCapture(id: string, hold: unknown, capture: unknown): Promise<void> {
  const h = await api("POST", `/v1/accounts/${id}/holds`, { body: hold });
  expect(h.status, JSON.stringify(h.body)).toBe(201);
  const c = await api("POST", `/v1/accounts/${id}/holds/${h.body.hold_id}/capture`, { body: capture });
  expect(c.status, JSON.stringify(c.body)).toBe(200);
}

describe("GET /v1/accounts/{id}/usage", () => {
  // 2032: Monday 26 January, Friday 30 January, Sunday 1 February, Monday 2 and 9 February.
  const ID = "use-main";
  beforeAll(async () => {
    await api("PUT", "/v1/prices/use.chat", { body: { rates: { tokens: { credits: 1, per: 10 } } } });
    await api("PUT", "/v1/prices/use.image", { body: { rates: { images: { credits: 5, per: 1 } } } });
    await setClock(ID, "2032-01-29T12:00:00Z");
    await openAccount(ID, 10_000);

    await setClock(ID, "2032-01-30T12:00:00Z");
    await debit(ID, { operation: "use.chat", quantities: { tokens: 95 } }); // 10 (9.5 rounded up)
    await debit(ID, { amount: 7 });

    await setClock(ID, "2032-01-31T23:59:59Z");
    await debit(ID, { operation: "use.image", quantities: { images: 2 } }); // 10
    await holdAndCapture(ID, { operation: "use.chat", quantities: { tokens: 100 } }, { quantities: { tokens: 30 } }); // 3 of 10 held

    await setClock(ID, "2032-02-01T00:00:00Z");
    await debit(ID, { operation: "use.chat", quantities: { tokens: 200 } }); // 20
    await debit(ID, { amount: 5 });
    await holdAndCapture(ID, { amount: 50 }, { amount: 40 });
    // Released holds and grants spend nothing.
    const released = await api("POST", `/v1/accounts/${ID}/holds`, { body: { operation: "use.chat", quantities: { tokens: 500 } } });
    expect((await api("POST", `/v1/accounts/${ID}/holds/${released.body.hold_id}/release`)).status).toBe(200);
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 100 } });

    await setClock(ID, "2032-02-02T08:00:00Z");
    await debit(ID, { operation: "use.image", quantities: { images: 1 } }); // 5

    await setClock(ID, "2032-02-09T12:00:00Z");
    await debit(ID, { amount: 3 });
    await flush(ID);
  });

  it("adds up debits and captures per day and operation, oldest first; a bare amount is operation null", async () => {
    const res = await usage(ID, "?from=2032-01-01&to=2032-02-29");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ granularity: "day", from: "2032-01-01", to: "2032-02-29", time_zone: "UTC" });
    expect(res.body.data.map((l) => [l.period, l.operation, l.count, l.credits])).toEqual([
      ["2032-01-30", null, 1, 7],
      ["2032-01-30", "use.chat", 1, 10],
      ["2032-01-31", "use.chat", 1, 3],
      ["2032-01-31", "use.image", 1, 10],
      ["2032-02-01", null, 2, 45],
      ["2032-02-01", "use.chat", 1, 20],
      ["2032-02-02", "use.image", 1, 5],
      ["2032-02-09", null, 1, 3],
    ]);
    for (const line of res.body.data) expect(Object.keys(line).sort()).toEqual(["count", "credits", "operation", "period"]);
  });

  it("what it reports spent is what the journal says was spent", async () => {
    const res = await usage(ID, "?from=2032-01-01&to=2032-02-29&granularity=month");
    const spent = res.body.data.reduce((sum, l) => sum + l.credits, 0);
    const entries = await api("GET", `/v1/accounts/${ID}/entries?limit=100`);
    const journal = (entries.body.data as { kind: string; amount: number }[])
      .filter((e) => e.kind === "debit" || e.kind === "capture")
      .reduce((sum, e) => sum - e.amount, 0);
    expect(spent).toBe(journal);
    expect(spent).toBe(103);
  });

  it("folds days into ISO weeks, each named by its Monday", async () => {
    expect(await table(ID, "?from=2032-01-01&to=2032-02-29&granularity=week")).toEqual([
      ["2032-01-26", null, 3, 52],
      ["2032-01-26", "use.chat", 3, 33],
      ["2032-01-26", "use.image", 1, 10],
      ["2032-02-02", "use.image", 1, 5],
      ["2032-02-09", null, 1, 3],
    ]);
  });

  it("folds days into months across the month boundary, each named by its 1st", async () => {
    expect(await table(ID, "?from=2032-01-01&to=2032-02-29&granularity=month")).toEqual([
      ["2032-01-01", null, 1, 7],
      ["2032-01-01", "use.chat", 2, 13],
      ["2032-01-01", "use.image", 1, 10],
      ["2032-02-01", null, 3, 48],
      ["2032-02-01", "use.chat", 1, 20],
      ["2032-02-01", "use.image", 1, 5],
    ]);
  });

  it("counts only the days inside [from, to], both inclusive: the first and last week or month are partial", async () => {
    expect(await table(ID, "?from=2032-01-31&to=2032-02-01&granularity=week")).toEqual([
      ["2032-01-26", null, 2, 45],
      ["2032-01-26", "use.chat", 2, 23],
      ["2032-01-26", "use.image", 1, 10],
    ]);
    expect(await table(ID, "?from=2032-01-31&to=2032-02-02&granularity=month")).toEqual([
      ["2032-01-01", "use.chat", 1, 3],
      ["2032-01-01", "use.image", 1, 10],
      ["2032-02-01", null, 2, 45],
      ["2032-02-01", "use.chat", 1, 20],
      ["2032-02-01", "use.image", 1, 5],
    ]);
    expect(await table(ID, "?from=2032-02-09&to=2032-02-09")).toEqual([["2032-02-09", null, 1, 3]]);
    expect(await table(ID, "?from=2032-02-03&to=2032-02-08&granularity=week")).toEqual([]);
  });

  it("takes instants as the account's local day that holds them", async () => {
    // 2032-02-01T00:00:00+01:00 is still 31 January in UTC.
    expect(await table(ID, `?from=${encodeURIComponent("2032-02-01T00:00:00+01:00")}&to=2032-02-01T00:00:00Z`)).toEqual([
      ["2032-01-31", "use.chat", 1, 3],
      ["2032-01-31", "use.image", 1, 10],
      ["2032-02-01", null, 2, 45],
      ["2032-02-01", "use.chat", 1, 20],
    ]);
  });

  it("takes group_by=operation, the only grouping and the default", async () => {
    const query = "?from=2032-01-01&to=2032-02-29&granularity=month";
    expect(await table(ID, `${query}&group_by=operation`)).toEqual(await table(ID, query));
  });

  it("a read key can read it", async () => {
    const reader = await api("POST", "/v1/api-keys", { body: { name: "usage reader", scopes: ["read"] } });
    const res = await usage(ID, "?from=2032-02-09&to=2032-02-09", reader.body.key);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([{ period: "2032-02-09", operation: null, count: 1, credits: 3 }]);
  });
});

describe("usage in the account's time zone", () => {
  it("files spending under the local day: 03:00 UTC is the previous evening in Los Angeles", async () => {
    const ID = "use-la";
    await setClock(ID, "2032-01-10T12:00:00Z");
    expect((await api("PUT", `/v1/accounts/${ID}`, { body: { time_zone: "America/Los_Angeles" } })).status).toBe(201);
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 1000 } });
    await setClock(ID, "2032-01-15T03:00:00Z"); // 14 January, 19:00 PST
    await debit(ID, { amount: 2 });
    await setClock(ID, "2032-01-15T09:00:00Z"); // 15 January, 01:00 PST
    await debit(ID, { amount: 5 });
    await setClock(ID, "2032-02-01T07:30:00Z"); // still 31 January, 23:30 PST
    await debit(ID, { amount: 11 });
    await flush(ID);

    const res = await usage(ID, "?from=2032-01-01&to=2032-02-29");
    expect(res.body.time_zone).toBe("America/Los_Angeles");
    expect(res.body.data.map((l) => [l.period, l.credits])).toEqual([
      ["2032-01-14", 2],
      ["2032-01-15", 5],
      ["2032-01-31", 11],
    ]);
    expect(await table(ID, "?from=2032-01-01&to=2032-02-29&granularity=month")).toEqual([["2032-01-01", null, 3, 18]]);
    // An instant names the Los Angeles day holding it: 07:00 UTC on the 15th is 23:00 on the 14th there.
    expect(await table(ID, "?from=2032-01-15T03:00:00Z&to=2032-01-15T07:00:00Z")).toEqual([["2032-01-14", null, 1, 2]]);
  });

  it("files spending under the local day: 20:00 UTC is the next morning in Tokyo", async () => {
    const ID = "use-tokyo";
    await setClock(ID, "2032-01-10T12:00:00Z");
    expect((await api("PUT", `/v1/accounts/${ID}`, { body: { time_zone: "Asia/Tokyo" } })).status).toBe(201);
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 1000 } });
    await setClock(ID, "2032-01-15T14:00:00Z"); // 15 January, 23:00 JST
    await debit(ID, { amount: 4 });
    await setClock(ID, "2032-01-15T20:00:00Z"); // 16 January, 05:00 JST
    await debit(ID, { amount: 6 });
    await flush(ID);

    const res = await usage(ID, "?from=2032-01-15&to=2032-01-16");
    expect(res.body).toMatchObject({ time_zone: "Asia/Tokyo", from: "2032-01-15", to: "2032-01-16" });
    expect(res.body.data.map((l) => [l.period, l.credits])).toEqual([
      ["2032-01-15", 4],
      ["2032-01-16", 6],
    ]);
  });
});

describe("usage defaults and empty answers", () => {
  it("without from and to: the 30 days up to today in the account's zone", async () => {
    const ID = "use-defaults";
    await api("PUT", `/v1/accounts/${ID}`, { body: { time_zone: "Pacific/Kiritimati" } });
    await flush(ID);
    const before = dayKey(Date.now(), "Pacific/Kiritimati");
    const res = await usage(ID);
    const after = dayKey(Date.now(), "Pacific/Kiritimati");
    expect(res.status).toBe(200);
    expect([before, after]).toContain(res.body.to);
    expect((Date.parse(res.body.to) - Date.parse(res.body.from)) / 86_400_000).toBe(29);
    expect(res.body).toMatchObject({ granularity: "day", time_zone: "Pacific/Kiritimati", data: [] });

    // `to` alone: the window ends there and starts 29 days before.
    expect((await usage(ID, "?to=2032-03-01")).body).toMatchObject({ from: "2032-02-01", to: "2032-03-01" });
  });

  it("an account that spent nothing answers data: []", async () => {
    await openAccount("use-idle", 50);
    await flush("use-idle");
    const res = await usage("use-idle", "?from=2025-01-01&to=2025-12-31&granularity=month");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ granularity: "month", from: "2025-01-01", to: "2025-12-31", time_zone: "UTC", data: [] });
  });

  it("an account with nothing in D1 yet answers from its object: data [] in its own zone", async () => {
    const ID = "use-fresh";
    await steadyClock(ID);
    expect((await api("PUT", `/v1/accounts/${ID}`, { body: { time_zone: "Asia/Tokyo" } })).status).toBe(201);
    const res = await usage(ID, "?from=2032-01-01&to=2032-01-31");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ granularity: "day", from: "2032-01-01", to: "2032-01-31", time_zone: "Asia/Tokyo", data: [] });
  });
});

describe("usage errors", () => {
  const ID = "use-errors";
  beforeAll(async () => {
    await openAccount(ID, 5);
    await flush(ID);
  });

  it.each([
    ["?granularity=year", "granularity"],
    ["?group_by=kind", "group_by"],
    ["?from=yesterday", "from"],
    ["?from=2032-02-30", "from"],
    ["?from=2032-1-5", "from"],
    ["?to=2032-03-01T00:00:00", "to"],
    ["?to=1969-12-31", "to"],
    ["?from=2032-03-02&to=2032-03-01", "from"],
    ["?from=2032-01-01&to=2033-02-05", "from"],
    ["?from=2099-01-01", "from"],
    ["?page=2", "page"],
  ])("%s: 400 naming %s", async (query, field) => {
    const res = await usage(ID, query);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error?.type).toBe("invalid_request");
    expect(res.body.error?.field).toBe(field);
    expect(res.body.error?.message).toContain(field);
  });

  it("from and to exactly 400 days apart are accepted", async () => {
    const res = await usage(ID, "?from=2032-01-01&to=2033-02-04");
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ from: "2032-01-01", to: "2033-02-04", data: [] });
  });

  it("an unknown account: 404 account_not_found, as for entries", async () => {
    const res = await usage("use-nobody", "?granularity=week");
    expect(res.status).toBe(404);
    expect(res.body.error?.type).toBe("account_not_found");
    expect(res.body).toEqual((await api("GET", "/v1/accounts/use-nobody/entries")).body);
  });

  it("without a key: 401", async () => {
    const res = await usage(ID, "", null);
    expect(res.status).toBe(401);
  });
});
