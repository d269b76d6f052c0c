// Recurring allowances with capped rollover, through the rules the object calls. Every instant and
// every entry below is written out by hand: the tests never ask the calendar what a boundary is.

import { describe, expect, it } from "vitest";
import { totals } from "../../durable-objects/ledger/draft";
import * as rules from "../../durable-objects/ledger/rules";
import type { AllowancePlan, EntryDraft, LedgerState, Step } from "../../durable-objects/ledger/types";
import { charge, DAY, expectBalanceChain, grantInput, HOUR, ledger, MINUTE, ok, T0 } from "./fixtures";

const at = (isoString: string) => Date.parse(isoString);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The account as the object keeps it: the state between requests and the whole journal. */
class Account {
  readonly journal: EntryDraft[] = [];
  /** `opening`: what the journal before these tests adds up to (−debt for an account opened in debt). */
  constructor(
    public state: LedgerState = ledger(),
    private readonly opening = 0,
  ) {}

  journalBalance(): number {
    return this.journal.reduce((sum, e) => sum + e.amount, this.opening);
  }

  /** Runs one rule like the object does; the journal must add up to the balance after every step. */
  run<R>(rule: (state: LedgerState) => Step<R>, now: number): Step<R> {
    const step = rule(this.state);
    ok(step);
    expectBalanceChain(step, this.journalBalance());
    this.journal.push(...step.entries);
    expect(this.journalBalance(), "Σ journal amounts").toBe(totals(step.state, now).balance);
    this.state = step.state;
    return step;
  }

  setAllowance(plan: AllowancePlan | null, now: number) {
    return this.run((s) => rules.setAllowance(s, plan, now), now);
  }
  settle(now: number) {
    return this.run((s) => rules.settle(s, now), now);
  }
  debit(amount: number, now: number) {
    return this.run((s) => rules.debit(s, charge(amount), now), now);
  }
  hold(holdId: string, amount: number, ttlMs: number, now: number) {
    return this.run((s) => rules.placeHold(s, { ...charge(amount), holdId, ttlMs }, now), now);
  }
  capture(holdId: string, amount: number, now: number) {
    return this.run((s) => rules.captureHold(s, holdId, charge(amount), now), now);
  }
  grant(lotId: string, amount: number, over: Parameters<typeof grantInput>[2], now: number) {
    return this.run((s) => rules.grant(s, grantInput(lotId, amount, over), now), now);
  }

  totals(now: number) {
    return totals(this.state, now);
  }
}

/** Entries as [kind, amount, lot, date]: what a reader of the journal sees. */
const rows = (step: Step<unknown>) => step.entries.map((e) => [e.kind, e.amount, e.lotId, iso(e.createdAt)]);
/** Lots that still hold credits, as [id, source, remaining, expires]. */
const liveLots = (state: LedgerState) =>
  state.lots
    .filter((l) => l.remaining > 0)
    .map((l) => [l.id, l.source, l.remaining, iso(l.expiresAt)])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
const eventRows = (step: Step<unknown>) => step.events.map((e) => [e.type, iso(e.createdAt)]);

const daily: AllowancePlan = { amount: 100, interval: "day", rolloverMax: 30, rolloverExpiresAfterIntervals: 1 };

// T0 is Tuesday 2026-11-24 12:00 UTC; the daily periods in UTC end at these midnights.
const B1 = "2026-11-25T00:00:00.000Z";
const B2 = "2026-11-26T00:00:00.000Z";
const ALW0 = `alw_${T0}`;
const ALW1 = `alw_${at(B1)}`;
const ROL1 = `rol_${at(B1)}`;

describe("setting an allowance", () => {
  it("a first allowance grants its full amount at once, in a lot that expires at the next boundary", () => {
    const account = new Account();
    const step = account.setAllowance(daily, T0);
    expect(ok(step)).toEqual({ balance: 100, held: 0, available: 100, debt: 0 });
    expect(rows(step)).toEqual([["allowance", 100, ALW0, "2026-11-24T12:00:00.000Z"]]);
    expect(step.lots).toEqual([
      { id: ALW0, source: "allowance", amount: 100, remaining: 100, expiresAt: at(B1), priority: -1, createdAt: T0, reference: null },
    ]);
    // The next state holds the lot too: the next rule (and the reply's totals) must see it.
    expect(liveLots(step.state)).toEqual([[ALW0, "allowance", 100, B1]]);
    expect(step.state.allowance).toEqual({ plan: daily, periodStart: T0, periodEnd: at(B1), lotId: ALW0 });
    expect(step.events).toEqual([
      {
        type: "allowance.granted",
        data: { lot_id: ALW0, amount: 100, interval: "day", period_start: "2026-11-24T12:00:00.000Z", period_end: B1, rolled_over: 0, debt_paid: 0 },
        createdAt: T0,
      },
    ]);
  });

  it("setting the same plan again grants nothing", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    const again = account.setAllowance({ ...daily }, T0 + HOUR);
    expect(again.entries).toEqual([]);
    expect(again.events).toEqual([]);
    expect(again.lots).toEqual([]);
    expect(again.state.allowance).toEqual({ plan: daily, periodStart: T0, periodEnd: at(B1), lotId: ALW0 });
  });

  it("a change mid-period waits for the boundary, then the new amount is granted", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    const bigger = { ...daily, amount: 200 };
    const change = account.setAllowance(bigger, T0 + HOUR);
    expect(change.entries).toEqual([]);
    expect(account.totals(T0 + HOUR).balance).toBe(100);
    expect(change.state.allowance?.next).toEqual({ plan: bigger });

    const boundary = account.settle(at(B1));
    // The ending period rolls over under its own plan; the new one starts under the new plan.
    expect(rows(boundary)).toEqual([
      ["expire", -100, ALW0, B1],
      ["rollover", 30, ROL1, B1],
      ["allowance", 200, ALW1, B1],
    ]);
    expect(boundary.state.allowance).toEqual({ plan: bigger, periodStart: at(B1), periodEnd: at(B2), lotId: ALW1 });
  });

  it("setting the plan in force again cancels a pending change", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    account.setAllowance({ ...daily, amount: 200 }, T0 + HOUR);
    const back = account.setAllowance(daily, T0 + 2 * HOUR);
    expect(back.state.allowance).toEqual({ plan: daily, periodStart: T0, periodEnd: at(B1), lotId: ALW0 });
    expect(rows(account.settle(at(B1))).at(-1)).toEqual(["allowance", 100, ALW1, B1]);
  });

  it("ending the allowance (null) keeps the current period, rolls it over at the boundary, and grants nothing after", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    const end = account.setAllowance(null, T0 + HOUR);
    expect(end.entries).toEqual([]);
    expect(account.totals(T0 + HOUR).balance).toBe(100);

    const boundary = account.settle(at(B1));
    expect(rows(boundary)).toEqual([
      ["expire", -100, ALW0, B1],
      ["rollover", 30, ROL1, B1],
    ]);
    expect(boundary.state.allowance).toBeNull();
    expect(liveLots(boundary.state)).toEqual([[ROL1, "rollover", 30, B2]]);

    // The rolled-over credits still expire when their time comes, and no new period ever starts.
    const later = account.settle(at(B2) + 3 * DAY);
    expect(rows(later)).toEqual([["expire", -30, ROL1, B2]]);
    expect(later.events.map((e) => e.type)).toEqual(["credits.expired"]);
    expect(liveLots(later.state)).toEqual([]);
  });

  it("a first allowance granted while in debt pays the debt first", () => {
    const account = new Account(ledger({ debt: 40 }), -40);
    const step = account.setAllowance(daily, T0);
    expect(ok(step)).toMatchObject({ balance: 60, debt: 0 });
    // The account row is written from the next state: a debt left there would be paid twice.
    expect(step.state.debt).toBe(0);
    expect(step.lots[0]).toMatchObject({ id: ALW0, amount: 100, remaining: 60 });
    expect(step.entries[0]).toMatchObject({ kind: "allowance", amount: 100, metadata: { debt_paid: 40 } });
    expect(step.events[0]?.data).toMatchObject({ debt_paid: 40 });
  });
});

describe("rollover at a period boundary (daily, 100 a day, rolling over at most 30 for one day)", () => {
  interface Case {
    name: string;
    /** What happens during the first period (T0 to B1). */
    before: (account: Account) => void;
    /** Every entry the boundary writes, settled five hours late. */
    entries: unknown[][];
    /** Lots holding credits afterwards. */
    lots: unknown[][];
    /** The credits.expired amount, when some unused allowance is lost. */
    expired: number | null;
    balance: number;
  }

  const cases: Case[] = [
    {
      name: "under the cap: 20 unused all roll over",
      before: (a) => a.debit(80, T0 + HOUR),
      entries: [
        ["expire", -20, ALW0, B1],
        ["rollover", 20, ROL1, B1],
        ["allowance", 100, ALW1, B1],
      ],
      lots: [
        [ALW1, "allowance", 100, B2],
        [ROL1, "rollover", 20, B2],
      ],
      expired: null,
      balance: 120,
    },
    {
      name: "exactly at the cap: 30 unused roll over, nothing is lost",
      before: (a) => a.debit(70, T0 + HOUR),
      entries: [
        ["expire", -30, ALW0, B1],
        ["rollover", 30, ROL1, B1],
        ["allowance", 100, ALW1, B1],
      ],
      lots: [
        [ALW1, "allowance", 100, B2],
        [ROL1, "rollover", 30, B2],
      ],
      expired: null,
      balance: 130,
    },
    {
      name: "over the cap: of 90 unused, 30 roll over and 60 expire",
      before: (a) => a.debit(10, T0 + HOUR),
      entries: [
        ["expire", -90, ALW0, B1],
        ["rollover", 30, ROL1, B1],
        ["allowance", 100, ALW1, B1],
      ],
      lots: [
        [ALW1, "allowance", 100, B2],
        [ROL1, "rollover", 30, B2],
      ],
      expired: 60,
      balance: 130,
    },
    {
      name: "nothing used: 30 roll over, 70 expire",
      before: () => {},
      entries: [
        ["expire", -100, ALW0, B1],
        ["rollover", 30, ROL1, B1],
        ["allowance", 100, ALW1, B1],
      ],
      lots: [
        [ALW1, "allowance", 100, B2],
        [ROL1, "rollover", 30, B2],
      ],
      expired: 70,
      balance: 130,
    },
    {
      name: "fully used: nothing expires or rolls over, the new period is granted",
      before: (a) => a.debit(100, T0 + HOUR),
      entries: [["allowance", 100, ALW1, B1]],
      lots: [[ALW1, "allowance", 100, B2]],
      expired: null,
      balance: 100,
    },
    {
      name: "in debt after a capture overran: the new period's lot pays the 30 owed first",
      before: (a) => {
        a.hold("h", 100, HOUR, T0 + HOUR);
        a.capture("h", 130, T0 + HOUR + MINUTE);
        expect(a.totals(T0 + 2 * HOUR)).toMatchObject({ balance: -30, debt: 30 });
      },
      entries: [["allowance", 100, ALW1, B1]],
      lots: [[ALW1, "allowance", 70, B2]],
      expired: null,
      balance: 70,
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const account = new Account();
      account.setAllowance(daily, T0);
      c.before(account);
      const step = account.settle(at(B1) + 5 * HOUR);
      expect(rows(step)).toEqual(c.entries);
      expect(liveLots(step.state)).toEqual(c.lots);
      const expired = step.events.filter((e) => e.type === "credits.expired");
      expect(expired.map((e) => e.data.amount)).toEqual(c.expired === null ? [] : [c.expired]);
      expect(expired.every((e) => e.createdAt === at(B1))).toBe(true);
      expect(step.events.filter((e) => e.type === "allowance.granted").map((e) => [e.data.lot_id, iso(e.createdAt)])).toEqual([[ALW1, B1]]);
      expect(ok(step).balance).toBe(c.balance);
    });
  }

  it("the expire entry says how much rolled over and how much was lost", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    account.debit(10, T0 + HOUR);
    const step = account.settle(at(B1));
    expect(step.entries[0]).toMatchObject({
      kind: "expire",
      amount: -90,
      metadata: { expired_at: B1, source: "allowance", rolled_over: 30, expired: 60 },
    });
    expect(step.entries[1]).toMatchObject({ kind: "rollover", amount: 30, metadata: { from_lot: ALW0, period_end: B1, expires_at: B2 } });
    expect(step.lots.find((l) => l.id === ROL1)).toMatchObject({ source: "rollover", priority: -1, createdAt: at(B1), reference: ALW0 });
  });

  it("the new period's grant tells how much rolled over and how much debt it paid", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    account.hold("h", 100, HOUR, T0 + HOUR);
    account.capture("h", 130, T0 + HOUR + MINUTE);
    const step = account.settle(at(B1));
    expect(step.entries[0]?.metadata).toMatchObject({ debt_paid: 30 });
    expect(step.events.find((e) => e.type === "allowance.granted")?.data).toEqual({
      lot_id: ALW1,
      amount: 100,
      interval: "day",
      period_start: B1,
      period_end: B2,
      rolled_over: 0,
      debt_paid: 30,
    });
  });

  it("a hold running across the boundary, covered by a longer-lived lot, stays active and keeps its credits", () => {
    const account = new Account();
    account.grant("paid", 500, { priority: 100 }, T0);
    account.setAllowance(daily, T0);
    // Ends 2026-11-25T13:00Z, after the boundary: only the never-expiring lot can cover it.
    account.hold("h", 50, DAY, T0 + HOUR);
    account.debit(60, T0 + 2 * HOUR);
    const step = account.settle(at(B1) + 5 * HOUR);
    expect(rows(step)).toEqual([
      ["expire", -40, ALW0, B1],
      ["rollover", 30, ROL1, B1],
      ["allowance", 100, ALW1, B1],
    ]);
    expect(step.holds).toEqual([]);
    expect(step.state.holds).toEqual([expect.objectContaining({ id: "h", status: "active", amount: 50 })]);
    expect(ok(step)).toEqual({ balance: 630, held: 50, available: 580, debt: 0 });
    expect(liveLots(step.state)).toEqual([
      [ALW1, "allowance", 100, B2],
      ["paid", "grant", 500, null],
      [ROL1, "rollover", 30, B2],
    ]);
  });
});

describe("catching up on periods that ended while nobody settled", () => {
  it("a daily allowance in Paris across the spring-forward and a month end, settled in one late call", () => {
    const tz = "Europe/Paris";
    const start = at("2026-03-28T12:00:00.000Z");
    // Local midnights: Mar 29 (CET), Mar 30 and Mar 31 (CEST, after a 23-hour day), Apr 1, Apr 2.
    const [b1, b2, b3, b4, b5] = [
      "2026-03-28T23:00:00.000Z",
      "2026-03-29T22:00:00.000Z",
      "2026-03-30T22:00:00.000Z",
      "2026-03-31T22:00:00.000Z",
      "2026-04-01T22:00:00.000Z",
    ];
    const alw = (b: string) => `alw_${at(b)}`;
    const rol = (b: string) => `rol_${at(b)}`;
    const account = new Account(ledger({ settings: { timeZone: tz } }, start));
    account.setAllowance(daily, start);

    const step = account.settle(at("2026-04-01T10:00:00.000Z"));
    expect(rows(step)).toEqual([
      ["expire", -100, `alw_${start}`, b1],
      ["rollover", 30, rol(b1), b1],
      ["allowance", 100, alw(b1), b1],
      ["expire", -30, rol(b1), b2],
      ["expire", -100, alw(b1), b2],
      ["rollover", 30, rol(b2), b2],
      ["allowance", 100, alw(b2), b2],
      ["expire", -30, rol(b2), b3],
      ["expire", -100, alw(b2), b3],
      ["rollover", 30, rol(b3), b3],
      ["allowance", 100, alw(b3), b3],
      ["expire", -30, rol(b3), b4],
      ["expire", -100, alw(b3), b4],
      ["rollover", 30, rol(b4), b4],
      ["allowance", 100, alw(b4), b4],
    ]);
    expect(liveLots(step.state)).toEqual([
      [alw(b4), "allowance", 100, b5],
      [rol(b4), "rollover", 30, b5],
    ]);
    expect(step.state.allowance).toMatchObject({ periodStart: at(b4), periodEnd: at(b5), lotId: alw(b4) });
    expect(ok(step).balance).toBe(130);
  });

  it("its events come in the same order, each dated at its boundary; the 23-hour day is granted as such", () => {
    const tz = "Europe/Paris";
    const start = at("2026-03-28T12:00:00.000Z");
    const account = new Account(ledger({ settings: { timeZone: tz } }, start));
    account.setAllowance(daily, start);
    const step = account.settle(at("2026-04-01T10:00:00.000Z"));
    const b1 = "2026-03-28T23:00:00.000Z";
    const b4 = "2026-03-31T22:00:00.000Z";
    const boundary = (b: string) => [
      ["credits.expired", b], // the previous day's rollover
      ["credits.expired", b], // the 70 of the allowance that did not roll over
      ["allowance.granted", b],
    ];
    expect(eventRows(step)).toEqual([
      ["credits.expired", b1],
      ["allowance.granted", b1],
      ...boundary("2026-03-29T22:00:00.000Z"),
      ...boundary("2026-03-30T22:00:00.000Z"),
      ...boundary(b4),
      // The rollover still alive is not announced: it lasts a day, and renews with every period.
    ]);
    expect(step.events.find((e) => e.type === "allowance.granted")?.data).toMatchObject({
      period_start: b1,
      period_end: "2026-03-29T22:00:00.000Z",
    });
  });

  it("a weekly allowance whose rollover lasts two weeks, a whole week missed", () => {
    const weekly: AllowancePlan = { amount: 100, interval: "week", rolloverMax: 30, rolloverExpiresAfterIntervals: 2 };
    // Mondays: 2026-11-30, 2026-12-07, 2026-12-14, 2026-12-21.
    const [w1, w2, w3, w4] = ["2026-11-30T00:00:00.000Z", "2026-12-07T00:00:00.000Z", "2026-12-14T00:00:00.000Z", "2026-12-21T00:00:00.000Z"];
    const account = new Account();
    account.setAllowance(weekly, T0);
    const step = account.settle(at("2026-12-08T09:00:00.000Z"));
    expect(rows(step)).toEqual([
      ["expire", -100, ALW0, w1],
      ["rollover", 30, `rol_${at(w1)}`, w1],
      ["allowance", 100, `alw_${at(w1)}`, w1],
      // The first rollover lives on to w3, so only the allowance expires at w2.
      ["expire", -100, `alw_${at(w1)}`, w2],
      ["rollover", 30, `rol_${at(w2)}`, w2],
      ["allowance", 100, `alw_${at(w2)}`, w2],
    ]);
    expect(liveLots(step.state)).toEqual([
      [`alw_${at(w2)}`, "allowance", 100, w3],
      [`rol_${at(w1)}`, "rollover", 30, w3],
      [`rol_${at(w2)}`, "rollover", 30, w4],
    ]);
    expect(ok(step).balance).toBe(160);
    // The first rollover came within a week of expiring at w2; the second has not yet.
    expect(step.events.filter((e) => e.type === "credits.expiring").map((e) => [e.data.lot_id, iso(e.createdAt)])).toEqual([
      [`rol_${at(w1)}`, w2],
    ]);
  });

  it("settling again at the same instant writes nothing", () => {
    const account = new Account();
    account.setAllowance(daily, T0);
    const now = at(B2) + HOUR;
    account.settle(now);
    const again = account.settle(now);
    expect(again.entries).toEqual([]);
    expect(again.events).toEqual([]);
    expect(again.lots).toEqual([]);
    expect(again.holds).toEqual([]);
  });

  it("settling in several calls writes the same entries as one late call: each boundary exactly once", () => {
    const late = new Account();
    late.setAllowance(daily, T0);
    const once = late.settle(at(B2) + HOUR);

    const often = new Account();
    often.setAllowance(daily, T0);
    const pieces = [at(B1) - 1, at(B1), at(B1) + 1, at(B2) - 1, at(B2), at(B2) + HOUR].flatMap((now) => often.settle(now).entries);
    expect(pieces).toEqual(once.entries);
    expect(often.state.allowance).toEqual(late.state.allowance);
  });
});

describe("burn order", () => {
  // A purchase lot as the payment flow writes it, and a grant as the API writes it by default.
  function account(): Account {
    const a = new Account();
    a.grant("bought", 500, { source: "purchase", priority: 0, expiresAt: T0 + 365 * DAY }, T0);
    a.grant("granted", 200, { priority: 100 }, T0);
    a.setAllowance(daily, T0);
    return a;
  }

  it("a debit takes from the allowance lot before purchased or granted credits", () => {
    const a = account();
    const step = a.debit(30, T0 + HOUR);
    expect(step.lots.map((l) => [l.id, l.remaining])).toEqual([[ALW0, 70]]);
  });

  it("once the allowance is spent, a debit moves on to the purchased credits, and the grant is last", () => {
    const a = account();
    const step = a.debit(120, T0 + HOUR);
    expect(step.lots.map((l) => [l.id, l.remaining]).sort()).toEqual([
      [ALW0, 0],
      ["bought", 480],
    ]);
  });

  it("a rollover lot also burns before purchased credits", () => {
    const a = account();
    a.debit(90, T0 + HOUR);
    a.settle(at(B1));
    // 10 rolled over; the new period's 100 and those 10 both burn before "bought".
    const step = a.debit(115, at(B1) + HOUR);
    expect(Object.fromEntries(step.state.lots.map((l) => [l.id, l.remaining]))).toMatchObject({
      [ALW1]: 0,
      [ROL1]: 0,
      bought: 495,
      granted: 200,
    });
  });
});
