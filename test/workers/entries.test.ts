import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { account, api, d1Entries, eventually, flush, ledger, openAccount, steadyClock, unshipped } from "./helpers";

interface Entry {
  id: string;
  kind: string;
  amount: number;
  balance_after: number;
  operation: string | null;
  quantities: Record<string, number> | null;
  hold_id: string | null;
  description: string | null;
  metadata: Record<string, unknown> | null;
  created_at: string;
}

interface Page {
  data: Entry[];
  next_cursor: string | null;
  /** Present instead of data when the request is refused. */
  error?: { type: string; message: string; field?: string };
}

const entries = (id: string, query = "") => api<Page>("GET", `/v1/accounts/${id}/entries${query}`);

const setClock = (id: string, at: number) =>
  runInDurableObject(ledger(id), (instance: AccountLedger) => {
    instance.clock = () => at;
  });

/** Every entry of the account, following next_cursor page by page. */
async function walk(id: string, limit: number, filter = ""): Promise<{ pages: Entry[][]; all: Entry[] }> {
  const pages: Entry[][] = [];
  let cursor: string | null = null;
  do {
    const res = await entries(id, `?limit=${limit}${filter}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body.data);
    cursor = res.body.next_cursor;
    if (pages.length > 100) throw new Error("pagination does not end");
  } while (cursor !== null);
  return { pages, all: pages.flat() };
}

const debit = (id: string, body: unknown) => api("POST", `/v1/accounts/${id}/debits`, { body });

describe("GET /v1/accounts/{id}/entries", () => {
  beforeAll(async () => {
    await api("PUT", "/v1/prices/ent.chat", { body: { rates: { tokens: { credits: 1, per: 10 } } } });
    await api("PUT", "/v1/prices/ent.image", { body: { rates: { images: { credits: 5, per: 1 } } } });
  });

  it("lists every change newest first, with the fields API.md names", async () => {
    const ID = "ent-shape";
    await openAccount(ID, 1000);
    const d = await debit(ID, { operation: "ent.chat", quantities: { tokens: 95 }, description: "a chat", metadata: { request_id: "r1" } });
    expect(d.status).toBe(201);
    const hold = await api("POST", `/v1/accounts/${ID}/holds`, { body: { operation: "ent.image", quantities: { images: 4 } } });
    const capture = await api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/capture`, { body: { quantities: { images: 3 } } });
    expect(capture.status).toBe(200);
    const hold2 = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 50 } });
    expect((await api("POST", `/v1/accounts/${ID}/holds/${hold2.body.hold_id}/release`)).status).toBe(200);
    await flush(ID);

    const res = await entries(ID);
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    const data = res.body.data;
    expect(data.map((e) => [e.kind, e.amount])).toEqual([
      ["release", 0],
      ["hold", 0],
      ["capture", -15],
      ["hold", 0],
      ["debit", -10],
      ["grant", 1000],
    ]);
    for (const e of data) {
      expect(Object.keys(e)).toEqual(
        expect.arrayContaining(["id", "kind", "amount", "balance_after", "operation", "quantities", "hold_id", "description", "metadata", "created_at"]),
      );
      expect(new Date(e.created_at).toISOString()).toBe(e.created_at);
      expect(Math.abs(Date.parse(e.created_at) - Date.now())).toBeLessThan(60_000);
    }
    expect(new Set(data.map((e) => e.id)).size).toBe(data.length);

    const [release, , cap, , deb, grant] = data as [Entry, Entry, Entry, Entry, Entry, Entry];
    expect(deb).toMatchObject({
      id: d.body.entry_id,
      kind: "debit",
      amount: -10,
      balance_after: 990,
      operation: "ent.chat",
      quantities: { tokens: 95 },
      hold_id: null,
      description: "a chat",
      metadata: { request_id: "r1" },
    });
    expect(cap).toMatchObject({
      id: capture.body.entry_id,
      kind: "capture",
      balance_after: 975,
      operation: "ent.image",
      quantities: { images: 3 },
      hold_id: hold.body.hold_id,
    });
    expect(release).toMatchObject({ hold_id: hold2.body.hold_id, balance_after: 975 });
    expect(grant).toMatchObject({ kind: "grant", amount: 1000, balance_after: 1000, operation: null, quantities: null, hold_id: null });
  });

  it("a change is due to reach D1 within a second, and gets there without being asked", async () => {
    const ID = "ent-soon";
    await openAccount(ID, 10);
    await flush(ID);
    const before = Date.now();
    expect((await debit(ID, { amount: 1 })).status).toBe(201);
    // Read in one go inside the object: either the alarm that ships the debit is due within a second,
    // or (on a slow machine) it has come due and already shipped it. While the runtime is running that
    // alarm (it awaits the Queue's send, and this read can come in meanwhile), the debit is not shipped
    // yet and getAlarm() answers null: read again until the run has finished one way or the other.
    const { alarm, shippedSeq, lastSeq } = await eventually(
      () =>
        runInDurableObject(ledger(ID), async (instance: AccountLedger, state) => ({
          alarm: await state.storage.getAlarm(),
          ...(await instance.audit())!,
        })),
      (read) => read.shippedSeq >= read.lastSeq || read.alarm !== null,
    );
    if (shippedSeq < lastSeq) {
      expect(alarm).not.toBeNull();
      expect(alarm as number).toBeLessThanOrEqual(before + 1000);
    }
    // Nobody runs the alarm here: the runtime does, on its own, and the debit lands in D1.
    const rows = await eventually(() => d1Entries(ID), (r) => r.some((e) => e.seq === lastSeq));
    expect(rows.map((e) => [e.kind, e.amount])).toEqual([
      ["grant", 10],
      ["debit", -1],
    ]);
  });

  it("limit and next_cursor walk every entry exactly once, newest first", async () => {
    const ID = "ent-pages";
    await openAccount(ID, 100);
    for (let i = 1; i <= 9; i++) expect((await debit(ID, { amount: i })).status).toBe(201);
    await flush(ID);

    const { pages, all } = await walk(ID, 3);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
    expect(all).toHaveLength(10);
    expect(new Set(all.map((e) => e.id)).size).toBe(10);
    expect(all.map((e) => e.amount)).toEqual([-9, -8, -7, -6, -5, -4, -3, -2, -1, 100]);
    expect(all).toEqual((await entries(ID, "?limit=100")).body.data);

    // A page size that divides the total ends without an empty page.
    expect((await walk(ID, 5)).pages.map((p) => p.length)).toEqual([5, 5]);
    expect((await walk(ID, 1)).all).toEqual(all);
  });

  it("the default page is 25 entries", async () => {
    const ID = "ent-default-limit";
    await openAccount(ID, 100);
    for (let i = 0; i < 30; i++) await debit(ID, { amount: 1 });
    await flush(ID);
    const res = await entries(ID);
    expect(res.body.data).toHaveLength(25);
    expect(res.body.next_cursor).not.toBeNull();
  });

  it("filters by kind and by operation, and pages through a filter", async () => {
    const ID = "ent-filters";
    await openAccount(ID, 1000);
    await debit(ID, { operation: "ent.chat", quantities: { tokens: 10 } });
    await debit(ID, { operation: "ent.image", quantities: { images: 1 } });
    await debit(ID, { operation: "ent.chat", quantities: { tokens: 20 } });
    await debit(ID, { amount: 7 });
    const hold = await api("POST", `/v1/accounts/${ID}/holds`, { body: { operation: "ent.chat", quantities: { tokens: 100 } } });
    await api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/capture`, { body: { quantities: { tokens: 30 } } });
    await flush(ID);

    const debits = (await entries(ID, "?kind=debit")).body.data;
    expect(debits.map((e) => e.amount)).toEqual([-7, -2, -5, -1]);
    expect(debits.every((e) => e.kind === "debit")).toBe(true);

    const chat = (await entries(ID, "?operation=ent.chat")).body.data;
    expect(chat.map((e) => [e.kind, e.amount])).toEqual([
      ["capture", -3],
      ["hold", 0],
      ["debit", -2],
      ["debit", -1],
    ]);

    const both = (await entries(ID, "?kind=debit&operation=ent.chat")).body.data;
    expect(both.map((e) => e.amount)).toEqual([-2, -1]);

    const paged = await walk(ID, 1, "&operation=ent.chat");
    expect(paged.all).toEqual(chat);

    expect((await entries(ID, "?kind=refund")).body).toEqual({ data: [], next_cursor: null });
  });

  it("filters by from and to (inclusive instants, any offset)", async () => {
    const ID = "ent-dates";
    await openAccount(ID);
    const day = (d: number) => Date.parse(`2026-03-${String(d).padStart(2, "0")}T12:00:00.000Z`);
    await setClock(ID, day(10));
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 100 } });
    await setClock(ID, day(11));
    await debit(ID, { amount: 11 });
    await setClock(ID, day(12));
    await debit(ID, { amount: 12 });
    await flush(ID);

    const amounts = async (query: string) => {
      const res = await entries(ID, query);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.data.map((e) => e.amount);
    };
    expect(await amounts("")).toEqual([-12, -11, 100]);
    expect((await entries(ID)).body.data.map((e) => e.created_at)).toEqual([
      "2026-03-12T12:00:00.000Z",
      "2026-03-11T12:00:00.000Z",
      "2026-03-10T12:00:00.000Z",
    ]);
    expect(await amounts("?from=2026-03-11T00:00:00Z")).toEqual([-12, -11]);
    expect(await amounts("?to=2026-03-11T12:00:00Z")).toEqual([-11, 100]);
    expect(await amounts("?from=2026-03-11T12:00:00Z&to=2026-03-11T12:00:00Z")).toEqual([-11]);
    expect(await amounts(`?from=${encodeURIComponent("2026-03-11T13:00:00+01:00")}&to=${encodeURIComponent("2026-03-11T13:00:00+01:00")}`)).toEqual([-11]);
    expect(await amounts("?from=2026-03-13T00:00:00Z")).toEqual([]);
  });

  it("the amounts of all entries sum to the balance once no hold is active", async () => {
    const ID = "ent-sum";
    await openAccount(ID, 500);
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 60, source: "promo", expires_at: expiresAt } });
    await debit(ID, { amount: 120 });
    await debit(ID, { operation: "ent.chat", quantities: { tokens: 33 } });
    const h1 = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 200 } });
    await api("POST", `/v1/accounts/${ID}/holds/${h1.body.hold_id}/capture`, { body: { amount: 150 } });
    const h2 = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 100 } });
    await api("POST", `/v1/accounts/${ID}/holds/${h2.body.hold_id}/release`);
    // An overrun puts the account in debt; a later grant pays it.
    const h3 = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 200 } });
    const overrun = await api("POST", `/v1/accounts/${ID}/holds/${h3.body.hold_id}/capture`, { body: { amount: 400 } });
    expect(overrun.body.overrun).toBeGreaterThan(0);
    await api("POST", `/v1/accounts/${ID}/grants`, { body: { amount: 300 } });
    await flush(ID);

    const a = await account(ID);
    expect(a.held).toBe(0);
    const { all } = await walk(ID, 4);
    expect(all.reduce((sum, e) => sum + e.amount, 0)).toBe(a.balance);
    // Newest first: the newest entry's balance_after is the balance.
    expect(all[0]?.balance_after).toBe(a.balance);
  });

  it("an account created but with nothing shipped yet answers 200 with no entries", async () => {
    // On steadyClock() (years ahead) the object's alarm does not come due during the test: nothing
    // reaches D1, not even the directory row, so the answer has to come from asking the object.
    await steadyClock("ent-fresh");
    await openAccount("ent-fresh");
    const res = await entries("ent-fresh");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], next_cursor: null });

    await steadyClock("ent-fresh-granted");
    await openAccount("ent-fresh-granted", 10);
    const granted = await entries("ent-fresh-granted");
    expect(granted.status).toBe(200);
    expect(granted.body.data).toEqual([]);
    // … and that is because nothing had shipped: the grant and the directory row are still pending.
    const pending = await unshipped("ent-fresh-granted");
    expect(pending?.entries).toBe(1);
    expect(pending?.directory).toBeGreaterThan(0);
  });

  it("a read key can list entries", async () => {
    await openAccount("ent-reader", 5);
    await flush("ent-reader");
    const reader = await api("POST", "/v1/api-keys", { body: { name: "reader", scopes: ["read"] } });
    const res = await api("GET", "/v1/accounts/ent-reader/entries", { key: reader.body.key });
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(1);
  });
});

describe("entries errors", () => {
  beforeAll(() => openAccount("ent-errors", 5));

  it.each([
    ["101", "limit"],
    ["0", "limit"],
    ["ten", "limit"],
  ])("limit=%s: 400 naming limit", async (limit, field) => {
    const res = await entries("ent-errors", `?limit=${limit}`);
    expect(res.status).toBe(400);
    expect(res.body.error?.type).toBe("invalid_request");
    expect(res.body.error?.field).toBe(field);
  });

  it.each(["abc", "-1", "12345678901234567"])("cursor=%s: 400 naming cursor", async (cursor) => {
    const res = await entries("ent-errors", `?cursor=${cursor}`);
    expect(res.status).toBe(400);
    expect(res.body.error?.field).toBe("cursor");
  });

  it("from that is not a date: 400 naming from", async () => {
    const res = await entries("ent-errors", "?from=yesterday");
    expect(res.status).toBe(400);
    expect(res.body.error?.field).toBe("from");
  });

  it("an unknown query parameter: 400", async () => {
    const res = await entries("ent-errors", "?page=2");
    expect(res.status).toBe(400);
  });

  it("an unknown account: 404 account_not_found", async () => {
    const res = await entries("ent-nobody");
    expect(res.status).toBe(404);
    expect(res.body.error?.type).toBe("account_not_found");
  });

  it("an unknown account is a 404 with filters too", async () => {
    const res = await entries("ent-nobody", "?kind=debit&operation=x");
    expect(res.status).toBe(404);
    expect(res.body.error?.type).toBe("account_not_found");
  });

  it("an unknown account is a 404 with a cursor too", async () => {
    const res = await entries("ent-nobody", "?cursor=5");
    expect(res.status).toBe(404);
    expect(res.body.error?.type).toBe("account_not_found");
  });
});
