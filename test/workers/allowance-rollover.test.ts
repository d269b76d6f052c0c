// Allowances with capped rollover, driven through the API and the cron sweep: each period's entries
// are written once, dated at the boundary, whether the sweep runs twice at once or a week late.
import { describe, expect, it } from "vitest";
import { account, api, flush } from "./helpers";
import { historyRows, journalOf, runCron, setClock, type HistoryRow } from "./cron-helpers";

const T0 = Date.parse("2030-01-15T10:00:00.000Z"); // a Tuesday
const day = (n: number) => new Date(Date.parse("2030-01-16T00:00:00.000Z") + (n - 1) * 86_400_000).toISOString(); // B1 = Jan 16
const PLAN = { amount: 1000, interval: "day", rollover_max: 300, rollover_expires_after_intervals: 1 };

async function openAt(id: string, at: number, body: Record<string, unknown> = {}): Promise<void> {
  await setClock(id, at);
  const res = await api("PUT", `/v1/accounts/${id}`, { body });
  expect(res.status).toBe(201);
}

async function post(id: string, path: string, body: unknown) {
  const res = await api("POST", `/v1/accounts/${id}/${path}`, { body });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body;
}

/** The six cases of the table: what each account does during its first day. */
const CASES: Record<string, (id: string) => Promise<void>> = {
  "under-cap": (id) => post(id, "debits", { amount: 800 }),
  "over-cap": (id) => post(id, "debits", { amount: 100 }),
  "zero-used": async () => {},
  "fully-used": (id) => post(id, "debits", { amount: 1000 }),
  // A capture past what is left: 1000 from the allowance, 500 of debt at the boundary.
  "debt": async (id) => {
    const hold = await post(id, "holds", { amount: 1000, ttl_seconds: 60 });
    await post(id, `holds/${hold.hold_id}/capture`, { amount: 1500 });
  },
  // A hold running past the boundary, covered by credits that never expire; spending takes the
  // allowance first.
  "hold-active": async (id) => {
    await post(id, "grants", { amount: 500 });
    await post(id, "holds", { amount: 400, ttl_seconds: 86_400 });
    await post(id, "debits", { amount: 300 });
  },
};

const e = (kind: string, amount: number, at: string) => ({ kind, amount, created_at: at });
const entries = (rows: HistoryRow[]) => rows.map((r) => e(r.kind, r.amount, r.created_at));

/** Hand-computed: the entries at the first boundary (B1), and the balance after it. */
const AT_B1: Record<string, { entries: ReturnType<typeof e>[]; balance: number; available: number; debt: number }> = {
  "under-cap": { entries: [e("expire", -200, day(1)), e("rollover", 200, day(1)), e("allowance", 1000, day(1))], balance: 1200, available: 1200, debt: 0 },
  "over-cap": { entries: [e("expire", -900, day(1)), e("rollover", 300, day(1)), e("allowance", 1000, day(1))], balance: 1300, available: 1300, debt: 0 },
  "zero-used": { entries: [e("expire", -1000, day(1)), e("rollover", 300, day(1)), e("allowance", 1000, day(1))], balance: 1300, available: 1300, debt: 0 },
  "fully-used": { entries: [e("allowance", 1000, day(1))], balance: 1000, available: 1000, debt: 0 },
  // The new allowance pays the 500 of debt first.
  "debt": { entries: [e("allowance", 1000, day(1))], balance: 500, available: 500, debt: 0 },
  "hold-active": { entries: [e("expire", -700, day(1)), e("rollover", 300, day(1)), e("allowance", 1000, day(1))], balance: 1800, available: 1400, debt: 0 },
};

/** Hand-computed: the entries at B2, after a day with nothing spent (the B1 rollover lot ends here too). */
const AT_B2: Record<string, ReturnType<typeof e>[]> = {
  "under-cap": [e("expire", -200, day(2)), e("expire", -1000, day(2)), e("rollover", 300, day(2)), e("allowance", 1000, day(2))],
  "over-cap": [e("expire", -300, day(2)), e("expire", -1000, day(2)), e("rollover", 300, day(2)), e("allowance", 1000, day(2))],
  "zero-used": [e("expire", -300, day(2)), e("expire", -1000, day(2)), e("rollover", 300, day(2)), e("allowance", 1000, day(2))],
  "fully-used": [e("expire", -1000, day(2)), e("rollover", 300, day(2)), e("allowance", 1000, day(2))],
  // The B1 allowance kept 500 after paying the debt: all of it unused.
  "debt": [e("expire", -500, day(2)), e("rollover", 300, day(2)), e("allowance", 1000, day(2))],
  "hold-active": [e("expire", -300, day(2)), e("expire", -1000, day(2)), e("rollover", 300, day(2)), e("allowance", 1000, day(2))],
};
/** Every later boundary of the idle week: last period's rollover and allowance end, 300 rolls over. */
const idleDay = (n: number) => [e("expire", -300, day(n)), e("expire", -1000, day(n)), e("rollover", 300, day(n)), e("allowance", 1000, day(n))];

describe("allowance rollover at the boundary, by the cron sweep", () => {
  it("writes each case's hand-computed entries once, dated at the boundary, with two sweeps at once and again after a missed week", async () => {
    const ids = Object.keys(CASES).map((name) => `rollover-${name}`);
    const seqAtSetup: Record<string, number> = {};
    for (const [name, act] of Object.entries(CASES)) {
      const id = `rollover-${name}`;
      await openAt(id, T0);
      const set = await api("PUT", `/v1/accounts/${id}/allowance`, { body: PLAN });
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect(set.body.allowance).toMatchObject({ amount: 1000, current_period_end: day(1), rollover_max: 300 });
      await act(id);
      await flush(id);
      seqAtSetup[id] = (await historyRows(id)).length;
    }

    // Two sweeps at the same time, an hour after the boundary; the objects' alarms never ran.
    const afterB1 = Date.parse(day(1)) + 3600_000;
    for (const id of ids) await setClock(id, afterB1);
    await Promise.all([runCron(afterB1), runCron(afterB1)]);
    await runCron(afterB1);
    for (const [name] of Object.entries(CASES)) {
      const id = `rollover-${name}`;
      const want = AT_B1[name]!;
      // The sweep did the work (the journal has it before any alarm ships it).
      expect((await journalOf(id)).slice(seqAtSetup[id])).toEqual(want.entries);
      await flush(id);
      expect(entries(await historyRows(id, seqAtSetup[id])), name).toEqual(want.entries);
      expect(await account(id), name).toMatchObject({ balance: want.balance, available: want.available, debt: want.debt });
    }

    // A week with no sweep and no alarm, then two sweeps at once and one more.
    const weekLater = Date.parse(day(8)) + 3600_000;
    for (const id of ids) await setClock(id, weekLater);
    await Promise.all([runCron(weekLater), runCron(weekLater)]);
    await runCron(weekLater);
    for (const name of Object.keys(CASES)) {
      const id = `rollover-${name}`;
      const want = [...AT_B2[name]!, ...[3, 4, 5, 6, 7, 8].flatMap(idleDay)];
      // The sweeps caught the week up, before any alarm ran (flush() runs one, to ship it).
      const written = (await journalOf(id)).slice(seqAtSetup[id]! + AT_B1[name]!.entries.length).filter((r) => r.kind !== "hold_expire");
      expect(written, name).toEqual(want);
      await flush(id);
      const rows = entries(await historyRows(id, seqAtSetup[id]! + AT_B1[name]!.entries.length)).filter((r) => r.kind !== "hold_expire");
      expect(rows, name).toEqual(want);
      const body = await account(id);
      expect(body.balance, name).toBe(name === "hold-active" ? 1800 : 1300);
      expect(body.allowance.current_period_end).toBe(day(9));
    }
    // The hold that outlived B1 expired on its own instant, between B1 and B2.
    const hold = (await historyRows("rollover-hold-active")).filter((r) => r.kind === "hold_expire");
    expect(hold.map((r) => r.created_at)).toEqual([new Date(T0 + 86_400_000).toISOString()]);
  });

  it("dates each period at local midnight in Europe/Paris across the spring-forward day (23 hours)", async () => {
    const id = "rollover-paris";
    await openAt(id, Date.parse("2030-03-30T12:00:00.000Z"), { time_zone: "Europe/Paris" });
    const set = await api("PUT", `/v1/accounts/${id}/allowance`, { body: { amount: 100, interval: "day", rollover_max: 50 } });
    // Midnight of Sunday 31 March in Paris is still UTC+1.
    expect(set.body.allowance.current_period_end).toBe("2030-03-30T23:00:00.000Z");
    await flush(id);
    const before = (await historyRows(id)).length;

    const at = Date.parse("2030-04-02T06:00:00.000Z");
    await setClock(id, at);
    await Promise.all([runCron(at), runCron(at)]);
    // Written by the sweeps (three periods, eleven entries) before any alarm ran.
    expect((await journalOf(id)).slice(before)).toHaveLength(11);
    await flush(id);
    const b1 = "2030-03-30T23:00:00.000Z"; // 31 March 00:00 +01:00
    const b2 = "2030-03-31T22:00:00.000Z"; // 1 April 00:00 +02:00: 31 March had 23 hours
    const b3 = "2030-04-01T22:00:00.000Z";
    expect(entries(await historyRows(id, before))).toEqual([
      e("expire", -100, b1), e("rollover", 50, b1), e("allowance", 100, b1),
      e("expire", -50, b2), e("expire", -100, b2), e("rollover", 50, b2), e("allowance", 100, b2),
      e("expire", -50, b3), e("expire", -100, b3), e("rollover", 50, b3), e("allowance", 100, b3),
    ]);
    expect((await account(id)).allowance).toMatchObject({ current_period_start: b3, current_period_end: "2030-04-02T22:00:00.000Z" });
  });
});

describe("PUT /v1/accounts/{id}/allowance", () => {
  it("grants the first period at once; a change applies from the next boundary; null ends it there", async () => {
    const id = "allowance-api";
    await openAt(id, T0);
    const first = await api("PUT", `/v1/accounts/${id}/allowance`, { body: { amount: 500, interval: "week" } });
    expect(first.status).toBe(200);
    // Tuesday 15 January: the week ends Monday 21 January 00:00 UTC.
    expect(first.body.allowance).toMatchObject({ amount: 500, interval: "week", rollover_max: 0, rollover_expires_after_intervals: 1, current_period_end: "2030-01-21T00:00:00.000Z" });
    expect(first.body.balance, JSON.stringify(first.body)).toBe(500);

    const again = await api("PUT", `/v1/accounts/${id}/allowance`, { body: { amount: 500, interval: "week" } });
    expect(again.body.balance).toBe(500);

    const changed = await api("PUT", `/v1/accounts/${id}/allowance`, { body: { amount: 800, interval: "month" } });
    expect(changed.body.balance).toBe(500);
    expect(changed.body.allowance).toMatchObject({ amount: 500, next_period: { amount: 800, interval: "month" } });

    const ended = await api("PUT", `/v1/accounts/${id}/allowance`, { body: null });
    expect(ended.body.allowance).toMatchObject({ amount: 500, next_period: null });

    await setClock(id, Date.parse("2030-01-21T00:00:00.000Z"));
    const after = await account(id);
    expect(after.allowance).toBeNull();
    expect(after.balance).toBe(0);
  });

  it("refuses what is not an allowance, naming the field", async () => {
    await openAt("allowance-bad", T0);
    for (const [body, field] of [
      [{ amount: 0, interval: "day" }, "amount"],
      [{ amount: 10.5, interval: "day" }, "amount"],
      [{ amount: 10, interval: "year" }, "interval"],
      [{ amount: 10, interval: "day", rollover_max: -1 }, "rollover_max"],
      [{ amount: 10, interval: "day", rollover_expires_after_intervals: 0 }, "rollover_expires_after_intervals"],
      [{ amount: 10, interval: "day", surprise: 1 }, ""],
    ] as const) {
      const res = await api("PUT", "/v1/accounts/allowance-bad/allowance", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(res.body.error)).toContain(field);
    }
    expect((await account("allowance-bad")).allowance).toBeNull();
  });

  it("is a 404 for an account that was never opened", async () => {
    const res = await api("PUT", "/v1/accounts/allowance-nobody/allowance", { body: { amount: 10, interval: "day" } });
    expect(res.status).toBe(404);
    expect(res.body.error.type).toBe("account_not_found");
  });
});
