import { describe, expect, it } from "vitest";
import * as rules from "../../durable-objects/ledger/rules";
import { holdsCovered } from "../../durable-objects/ledger/cover";
import type { Step } from "../../durable-objects/ledger/types";
import { charge, DAY, grantInput, HOUR, ledger, lot, MINUTE, ok, refused, T0 } from "./fixtures";

describe("debit", () => {
  it("burns lots in burn order and writes one debit entry with the operation and quantities", () => {
    const state = ledger({
      lots: [lot({ id: "never", amount: 100 }), lot({ id: "promo", amount: 30, expiresAt: T0 + DAY })],
    });
    const step = rules.debit(state, charge(50, { operation: "chat", quantities: { requests: 1 }, description: "hi" }), T0);
    expect(ok(step)).toEqual({ balance: 80, held: 0, available: 80, debt: 0 });
    expect(step.lots.map((l) => [l.id, l.remaining]).sort()).toEqual([
      ["never", 80],
      ["promo", 0],
    ]);
    expect(step.entries).toEqual([
      {
        kind: "debit",
        amount: -50,
        balanceAfter: 80,
        operation: "chat",
        quantities: { requests: 1 },
        holdId: null,
        lotId: null,
        reserved: null,
        description: "hi",
        metadata: null,
        createdAt: T0,
      },
    ]);
  });

  it("can spend exactly what is available, down to 0", () => {
    const step = rules.debit(ledger({ lots: [lot({ id: "a", amount: 25 })] }), charge(25), T0);
    expect(ok(step)).toMatchObject({ balance: 0, available: 0 });
  });

  it("one credit more than available is refused with 402 insufficient_credits, required and available", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 25 })] });
    const step = rules.debit(state, charge(26), T0);
    const error = refused(step);
    expect(error.type).toBe("insufficient_credits");
    expect(error.details).toEqual({ required: 26, available: 25 });
    // A refusal changes nothing.
    expect(step.entries).toEqual([]);
    expect(step.lots).toEqual([]);
    expect(step.state.lots).toEqual(state.lots);
  });

  it("available excludes active holds", () => {
    const state = ledger({
      lots: [lot({ id: "a", amount: 100 })],
      holds: [{ id: "h", amount: 70, status: "active", operation: null, createdAt: T0, expiresAt: T0 + HOUR }],
    });
    expect(refused(rules.debit(state, charge(31), T0)).details).toEqual({ required: 31, available: 30 });
    expect(ok(rules.debit(state, charge(30), T0))).toEqual({ balance: 70, held: 70, available: 0, debt: 0 });
  });

  it("a lot expiring at this very instant cannot pay", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 100, expiresAt: T0 + HOUR }), lot({ id: "b", amount: 10 })] });
    expect(ok(rules.debit(state, charge(100), T0 + HOUR - 1)).balance).toBe(10);
    expect(refused(rules.debit(state, charge(100), T0 + HOUR))).toMatchObject({
      type: "insufficient_credits",
      details: { required: 100, available: 10 },
    });
  });

  it("a refused debit still writes down expiries that were due", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 100, expiresAt: T0 })] });
    const step = rules.debit(state, charge(1), T0);
    expect(refused(step).type).toBe("insufficient_credits");
    expect(step.entries.map((e) => [e.kind, e.amount, e.lotId])).toEqual([["expire", -100, "a"]]);
    expect(step.lots).toEqual([{ ...state.lots[0], remaining: 0 }]);
  });

  it("counts toward the day and month spend", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 1000 })] });
    const step = rules.debit(state, charge(40), T0);
    expect(step.state.spend).toEqual({ dayKey: "2026-11-24", day: 40, monthKey: "2026-11", month: 40 });
    // Next day the day counter starts again; the month keeps counting.
    const next = rules.debit(step.state, charge(5), T0 + DAY);
    expect(next.state.spend).toEqual({ dayKey: "2026-11-25", day: 5, monthKey: "2026-11", month: 45 });
  });

  it("burns around a hold's cover: spends the lot that expires before the hold ends, not the one that pays it", () => {
    // "first" burns first by priority, but it is the only lot still alive when the hold ends.
    const hold = { id: "h", amount: 100, status: "active" as const, operation: null, createdAt: T0, expiresAt: T0 + 2 * HOUR };
    const state = ledger({
      lots: [lot({ id: "first", amount: 100, priority: 0 }), lot({ id: "soon", amount: 100, priority: 1, expiresAt: T0 + HOUR })],
      holds: [hold],
    });
    const remaining = (step: Step<unknown>) => Object.fromEntries(step.state.lots.map((l) => [l.id, l.remaining]));

    const half = rules.debit(state, charge(50), T0);
    expect(ok(half)).toEqual({ balance: 150, held: 100, available: 50, debt: 0 });
    expect(remaining(half)).toEqual({ first: 100, soon: 50 });
    expect(half.lots.map((l) => [l.id, l.remaining])).toEqual([["soon", 50]]);

    const all = rules.debit(state, charge(100), T0);
    expect(ok(all)).toEqual({ balance: 100, held: 100, available: 0, debt: 0 });
    expect(remaining(all)).toEqual({ first: 100, soon: 0 });
    expect(holdsCovered(all.state.lots, all.state.holds, T0)).toBe(true);
    // After "soon" has expired the hold is still fully paid: no debt.
    const captured = rules.captureHold(all.state, "h", charge(100), T0 + 90 * MINUTE);
    expect(ok(captured)).toMatchObject({ balance: 0, overrun: 0, debt: 0 });

    // Only "soon"'s 100 are free of the hold.
    expect(refused(rules.debit(state, charge(101), T0))).toMatchObject({
      type: "insufficient_credits",
      details: { required: 101, available: 100 },
    });
  });
});

describe("402 order: account_in_debt, then spending_limit_exceeded, then insufficient_credits", () => {
  const limited = { limits: { daily: 100, monthly: null } };

  it("in debt (and over the limit, and short of credits): account_in_debt", () => {
    const state = ledger({ debt: 20, settings: limited });
    const error = refused(rules.debit(state, charge(500), T0));
    expect(error.type).toBe("account_in_debt");
    expect(error.details).toMatchObject({ required: 500, available: -20, debt: 20 });
  });

  it("debt blocks debits until a grant pays it off", () => {
    const partly = rules.grant(ledger({ debt: 20 }), grantInput("g1", 10), T0).state;
    expect(refused(rules.debit(partly, charge(1), T0))).toMatchObject({ type: "account_in_debt", details: { debt: 10 } });
    const paid = rules.grant(partly, grantInput("g2", 15), T0).state;
    expect(ok(rules.debit(paid, charge(5), T0))).toMatchObject({ balance: 0, debt: 0 });
  });

  it("over the limit and short of credits: spending_limit_exceeded", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 50 })], settings: limited });
    const error = refused(rules.debit(state, charge(150), T0));
    expect(error.type).toBe("spending_limit_exceeded");
    expect(error.details).toEqual({ required: 150, available: 50, period: "daily", limit: 100, spent: 0 });
  });

  it("within the limit but short of credits: insufficient_credits", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 50 })], settings: limited });
    expect(refused(rules.debit(state, charge(60), T0))).toMatchObject({
      type: "insufficient_credits",
      details: { required: 60, available: 50 },
    });
  });

  it("the limit counts what was spent today and what active holds reserve", () => {
    let state = ledger({ lots: [lot({ id: "a", amount: 1000 })], settings: limited });
    state = rules.debit(state, charge(60), T0).state;
    state = rules.placeHold(state, { ...charge(30), holdId: "h", ttlMs: HOUR }, T0).state;
    expect(ok(rules.debit(state, charge(10), T0)).balance).toBe(930);
    expect(refused(rules.debit(state, charge(11), T0))).toMatchObject({
      type: "spending_limit_exceeded",
      details: { period: "daily", limit: 100, spent: 90 },
    });
    // Tomorrow the day's spend is 0 again (and the one-hour hold has expired).
    expect(ok(rules.debit(state, charge(100), T0 + DAY)).balance).toBe(840);
  });

  it("the limit day follows the account's time zone", () => {
    // 2026-11-25T03:00Z is still the 24th in Los Angeles: yesterday's spend counts.
    const tz = { limits: { daily: 100, monthly: null }, timeZone: "America/Los_Angeles" };
    const spend = { dayKey: "2026-11-24", day: 90, monthKey: "2026-11", month: 90 };
    const state = ledger({ lots: [lot({ id: "a", amount: 1000 })], spend, settings: tz });
    const at = Date.parse("2026-11-25T03:00:00Z");
    expect(refused(rules.debit(state, charge(20), at)).type).toBe("spending_limit_exceeded");
    // In UTC it is a new day.
    const utc = ledger({ lots: [lot({ id: "a", amount: 1000 })], spend, settings: { limits: tz.limits } });
    expect(ok(rules.debit(utc, charge(20), at)).balance).toBe(980);
  });
});
