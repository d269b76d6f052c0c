import { describe, expect, it } from "vitest";
import { dueWork, MAX_SETTLE_INSTANTS } from "../../durable-objects/ledger/expiry";
import * as rules from "../../durable-objects/ledger/rules";
import type { AllowancePlan, Hold, Step } from "../../durable-objects/ledger/types";
import { DAY, expectBalanceChain, grantInput, HOUR, ledger, lot, MINUTE, ok, T0 } from "./fixtures";

const iso = (ms: number) => new Date(ms).toISOString();
const hold = (id: string, amount: number, expiresAt: number, status: Hold["status"] = "active"): Hold => ({
  id,
  amount,
  status,
  operation: "chat",
  createdAt: T0,
  expiresAt,
});
const rows = (step: Step<unknown>) => step.entries.map((e) => [e.kind, e.lotId ?? e.holdId, e.amount, iso(e.createdAt)]);
const notices = (step: Step<unknown>) => step.events.filter((e) => e.type === "credits.expiring");

describe("settling expiries in time order", () => {
  // Three lots and two holds fall due at five different instants between T0 and the late settle.
  const state = ledger({
    lots: [
      lot({ id: "three", amount: 30, expiresAt: T0 + 3 * HOUR }),
      lot({ id: "one", amount: 10, expiresAt: T0 + HOUR }),
      lot({ id: "two", amount: 20, expiresAt: T0 + 2 * HOUR }),
      lot({ id: "forever", amount: 1000 }),
    ],
    holds: [hold("h-late", 5, T0 + 150 * MINUTE), hold("h-early", 7, T0 + 90 * MINUTE)],
  });
  const now = T0 + 5 * HOUR;

  it("writes every expiry dated at the instant it fell due, in time order, however late the settle runs", () => {
    expect(rows(rules.settle(state, now))).toEqual([
      ["expire", "one", -10, "2026-11-24T13:00:00.000Z"],
      ["hold_expire", "h-early", 0, "2026-11-24T13:30:00.000Z"],
      ["expire", "two", -20, "2026-11-24T14:00:00.000Z"],
      ["hold_expire", "h-late", 0, "2026-11-24T14:30:00.000Z"],
      ["expire", "three", -30, "2026-11-24T15:00:00.000Z"],
    ]);
  });

  it("each entry's balance_after is the balance at its own instant", () => {
    const step = rules.settle(state, now);
    expectBalanceChain(step, 1060);
    expect(step.entries.map((e) => e.balanceAfter)).toEqual([1050, 1050, 1030, 1030, 1000]);
  });

  it("events follow the same order and dates", () => {
    expect(rules.settle(state, now).events.map((e) => [e.type, e.data.lot_id ?? e.data.hold_id, iso(e.createdAt)])).toEqual([
      ["credits.expired", "one", "2026-11-24T13:00:00.000Z"],
      ["hold.expired", "h-early", "2026-11-24T13:30:00.000Z"],
      ["credits.expired", "two", "2026-11-24T14:00:00.000Z"],
      ["hold.expired", "h-late", "2026-11-24T14:30:00.000Z"],
      ["credits.expired", "three", "2026-11-24T15:00:00.000Z"],
    ]);
  });

  it("at one instant, lots expire in burn order and before the holds that end then", () => {
    const same = ledger({
      lots: [
        lot({ id: "low", amount: 1, expiresAt: T0 + HOUR, priority: 5 }),
        lot({ id: "high", amount: 2, expiresAt: T0 + HOUR, priority: 1 }),
        lot({ id: "forever", amount: 100 }),
      ],
      holds: [hold("h", 3, T0 + HOUR)],
    });
    expect(rows(rules.settle(same, T0 + 2 * HOUR))).toEqual([
      ["expire", "high", -2, "2026-11-24T13:00:00.000Z"],
      ["expire", "low", -1, "2026-11-24T13:00:00.000Z"],
      ["hold_expire", "h", 0, "2026-11-24T13:00:00.000Z"],
    ]);
  });

  it("a settle stops after MAX_SETTLE_INSTANTS instants; the next one carries on where it stopped", () => {
    const many = ledger({
      lots: Array.from({ length: MAX_SETTLE_INSTANTS + 1 }, (_, i) => lot({ id: `l${i}`, amount: 1, expiresAt: T0 + 1 + i })),
    });
    const late = T0 + DAY;
    const first = rules.settle(many, late);
    expect(first.entries).toHaveLength(MAX_SETTLE_INSTANTS);
    // Work is still due in the past, so the object's alarm comes back at once for the rest.
    expect(dueWork(first.state).nextExpiryAt).toBe(T0 + 1 + MAX_SETTLE_INSTANTS);
    expect(dueWork(first.state).dueAt).toBeLessThanOrEqual(late);
    const second = rules.settle(first.state, late);
    expect(rows(second)).toEqual([["expire", `l${MAX_SETTLE_INSTANTS}`, -1, iso(T0 + 1 + MAX_SETTLE_INSTANTS)]]);
  });
});

describe("credits.expiring", () => {
  it("is raised once a lot is within 7 days of expiring, dated when it came within the week", () => {
    const state = ledger({ lots: [lot({ id: "promo", source: "promo", amount: 50, remaining: 40, expiresAt: T0 + 10 * DAY })] });
    const step = rules.settle(state, T0 + 4 * DAY);
    expect(step.events).toEqual([
      {
        type: "credits.expiring",
        data: { lot_id: "promo", amount: 40, source: "promo", expires_at: "2026-12-04T12:00:00.000Z" },
        createdAt: T0 + 3 * DAY,
      },
    ]);
    expect(step.entries).toEqual([]);
  });

  it("is not raised before the lot is within the week", () => {
    const state = ledger({ lots: [lot({ id: "promo", amount: 50, expiresAt: T0 + 10 * DAY })] });
    const step = rules.settle(state, T0 + 3 * DAY - 1);
    expect(step.events).toEqual([]);
    expect(step.lots).toEqual([]);
  });

  it("marks the lot as announced, so the next settle raises nothing", () => {
    const state = ledger({ lots: [lot({ id: "promo", amount: 50, expiresAt: T0 + 10 * DAY })] });
    const first = rules.settle(state, T0 + 4 * DAY);
    expect(first.lots).toEqual([expect.objectContaining({ id: "promo", remaining: 50, expiringNotified: true })]);
    const second = rules.settle(first.state, T0 + 5 * DAY);
    expect(second.events).toEqual([]);
    expect(second.lots).toEqual([]);
  });

  it("is raised once per lot, each with its own date", () => {
    const state = ledger({
      lots: [lot({ id: "a", amount: 10, expiresAt: T0 + 8 * DAY }), lot({ id: "b", amount: 20, expiresAt: T0 + 9 * DAY })],
    });
    const step = rules.settle(state, T0 + 5 * DAY);
    expect(notices(step).map((e) => [e.data.lot_id, iso(e.createdAt)])).toEqual([
      ["a", "2026-11-25T12:00:00.000Z"],
      ["b", "2026-11-26T12:00:00.000Z"],
    ]);
  });

  it("is never raised for allowance lots (they expire every period by design)", () => {
    const state = ledger({ lots: [lot({ id: "alw", source: "allowance", amount: 100, expiresAt: T0 + DAY, priority: -1 })] });
    const step = rules.settle(state, T0 + HOUR);
    expect(step.events).toEqual([]);
    expect(step.lots).toEqual([]);
  });

  it("is not raised for a lot that already expired by the time of the settle: credits.expired says it all", () => {
    const state = ledger({ lots: [lot({ id: "gone", amount: 10, expiresAt: T0 + 2 * DAY })] });
    const step = rules.settle(state, T0 + 3 * DAY);
    expect(step.events.map((e) => e.type)).toEqual(["credits.expired"]);
  });

  it("is not raised for a lot whose credits are all spent", () => {
    const state = ledger({ lots: [lot({ id: "spent", amount: 10, remaining: 0, expiresAt: T0 + 2 * DAY })] });
    expect(rules.settle(state, T0 + DAY).events).toEqual([]);
  });

  it("a lot created with less than 7 days to live is announced as of its creation", () => {
    const granted = rules.grant(ledger(), grantInput("short", 25, { expiresAt: T0 + 3 * DAY }), T0);
    ok(granted);
    // The object sets its alarm from dueWork: the notice is due at once.
    expect(dueWork(granted.state).nextNoticeAt).toBe(T0);
    const step = rules.settle(granted.state, T0 + MINUTE);
    expect(notices(step).map((e) => [e.data.lot_id, e.createdAt])).toEqual([["short", T0]]);
  });

  it("a rollover lot lasting a week or less (a daily plan) is not announced; one lasting longer is, a week before", () => {
    const daily: AllowancePlan = { amount: 100, interval: "day", rolloverMax: 30, rolloverExpiresAfterIntervals: 1 };
    const boundary = Date.parse("2026-11-25T00:00:00.000Z");
    const shortLived = rules.settle(rules.setAllowance(ledger(), daily, T0).state, boundary + HOUR);
    expect(shortLived.lots.some((l) => l.source === "rollover")).toBe(true);
    expect(notices(shortLived)).toEqual([]);

    const tenDays: AllowancePlan = { ...daily, rolloverExpiresAfterIntervals: 10 };
    const longLived = rules.settle(rules.setAllowance(ledger(), tenDays, T0).state, boundary + HOUR);
    const rollover = longLived.state.lots.find((l) => l.source === "rollover")!;
    expect(rollover.expiresAt).toBe(boundary + 10 * DAY);
    expect(dueWork(longLived.state).nextNoticeAt).toBe(boundary + 3 * DAY);
    const announced = rules.settle(longLived.state, boundary + 3 * DAY);
    expect(notices(announced).map((e) => [e.data.lot_id, e.createdAt])).toEqual([[`rol_${boundary}`, boundary + 3 * DAY]]);
  });
});

describe("dueWork", () => {
  it("nothing that expires: nothing is ever due", () => {
    expect(dueWork(ledger({ lots: [lot({ id: "forever", amount: 10 })] }))).toEqual({
      dueAt: null,
      nextExpiryAt: null,
      nextNoticeAt: null,
      nextHoldExpiryAt: null,
      nextAllowanceAt: null,
      nextRechargeAt: null,
    });
  });

  it("gives each kind of work's next instant, and the earliest of them", () => {
    const plan: AllowancePlan = { amount: 100, interval: "month", rolloverMax: 0, rolloverExpiresAfterIntervals: 1 };
    const state = ledger({
      lots: [
        lot({ id: "soon", amount: 10, expiresAt: T0 + 10 * DAY }), // announced at T0 + 3 days
        lot({ id: "later", amount: 10, expiresAt: T0 + 20 * DAY }),
        lot({ id: "told", amount: 10, expiresAt: T0 + 8 * DAY, expiringNotified: true }),
        lot({ id: "spent", amount: 10, remaining: 0, expiresAt: T0 + HOUR }),
        lot({ id: "alw", source: "allowance", amount: 100, expiresAt: Date.parse("2026-12-01T00:00:00.000Z"), priority: -1 }),
      ],
      holds: [hold("h", 5, T0 + 2 * DAY), hold("done", 5, T0 + HOUR, "captured")],
      allowance: { plan, periodStart: T0, periodEnd: Date.parse("2026-12-01T00:00:00.000Z"), lotId: "alw" },
    });
    expect(dueWork(state)).toEqual({
      dueAt: T0 + 2 * DAY,
      nextExpiryAt: Date.parse("2026-12-01T00:00:00.000Z"), // the allowance lot; "spent" holds nothing
      nextNoticeAt: T0 + 3 * DAY, // "told" was announced already, allowance lots never are
      nextHoldExpiryAt: T0 + 2 * DAY, // only active holds
      nextAllowanceAt: Date.parse("2026-12-01T00:00:00.000Z"),
      nextRechargeAt: null,
    });
  });

  it("after a settle, nothing is due at or before its now", () => {
    const state = ledger({
      lots: [lot({ id: "a", amount: 10, expiresAt: T0 + HOUR }), lot({ id: "b", amount: 10, expiresAt: T0 + 9 * DAY })],
      holds: [hold("h", 5, T0 + 30 * MINUTE)],
    });
    const now = T0 + 2 * DAY + HOUR;
    const due = dueWork(rules.settle(state, now).state);
    expect(due).toMatchObject({ nextExpiryAt: T0 + 9 * DAY, nextNoticeAt: null, nextHoldExpiryAt: null });
    expect(due.dueAt).toBe(T0 + 9 * DAY);
  });
});
