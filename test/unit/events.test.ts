import { describe, expect, it } from "vitest";
import * as rules from "../../durable-objects/ledger/rules";
import type { EventType, LedgerState, Step } from "../../durable-objects/ledger/types";
import { charge, DAY, grantInput, HOUR, ledger, lot, T0 } from "./fixtures";

const count = (step: Step<unknown>, type: EventType) => step.events.filter((e) => e.type === type).length;

describe("balance.low", () => {
  const start = ledger({ lots: [lot({ id: "a", amount: 100 })], settings: { lowBalanceThreshold: 50 } });

  it("fires once when the balance falls below the threshold, not again while it stays below", () => {
    const first = rules.debit(start, charge(40), T0); // 60: not low
    expect(count(first, "balance.low")).toBe(0);
    const second = rules.debit(first.state, charge(15), T0); // 45: crossed
    expect(second.events).toEqual([{ type: "balance.low", data: { balance: 45, threshold: 50 }, createdAt: T0 }]);
    expect(second.state.isLow).toBe(true);
    const third = rules.debit(second.state, charge(5), T0); // 40: still low
    expect(count(third, "balance.low")).toBe(0);
  });

  it("exactly at the threshold is not low", () => {
    const step = rules.debit(start, charge(50), T0);
    expect(count(step, "balance.low")).toBe(0);
    expect(step.state.isLow).toBe(false);
  });

  it("fires again after a grant lifts the balance back over the threshold and it falls again", () => {
    let state: LedgerState = rules.debit(start, charge(60), T0).state; // 40, low (event 1)
    const lifted = rules.grant(state, grantInput("g", 30), T0); // 70
    expect(count(lifted, "balance.low")).toBe(0);
    expect(lifted.state.isLow).toBe(false);
    state = lifted.state;
    expect(count(rules.debit(state, charge(21), T0), "balance.low")).toBe(1); // 49
  });

  it("fires when expiry (settled) drops the balance below the threshold", () => {
    const expiring = ledger({ lots: [lot({ id: "a", amount: 100, expiresAt: T0 + HOUR }), lot({ id: "b", amount: 10 })], settings: { lowBalanceThreshold: 50 } });
    const step = rules.settle(expiring, T0 + HOUR);
    expect(count(step, "balance.low")).toBe(1);
    expect(step.state.isLow).toBe(true);
  });

  it("with no threshold, never", () => {
    const step = rules.debit(ledger({ lots: [lot({ id: "a", amount: 100 })] }), charge(100), T0);
    expect(count(step, "balance.low")).toBe(0);
  });
});

describe("spending_limit.reached", () => {
  const rich = [lot({ id: "a", amount: 10_000 })];

  it("fires once per period, however many refusals follow", () => {
    let state = ledger({ lots: rich, settings: { limits: { daily: 100, monthly: null } } });
    state = rules.debit(state, charge(90), T0).state;
    const first = rules.debit(state, charge(20), T0);
    expect(first.events).toEqual([
      { type: "spending_limit.reached", data: { period: "daily", limit: 100, committed: 90 }, createdAt: T0 },
    ]);
    const second = rules.debit(first.state, charge(30), T0 + HOUR);
    expect(second.outcome.ok).toBe(false);
    expect(count(second, "spending_limit.reached")).toBe(0);
    // A new day is a new period: reaching the limit again is reported again.
    const tomorrow = rules.debit(rules.debit(second.state, charge(100), T0 + DAY).state, charge(1), T0 + DAY);
    expect(count(tomorrow, "spending_limit.reached")).toBe(1);
  });

  it("a hold refused by the limit reports it too, and a debit refused later that day does not", () => {
    const state = ledger({ lots: rich, settings: { limits: { daily: 100, monthly: null } } });
    const held = rules.placeHold(state, { ...charge(150), holdId: "h", ttlMs: HOUR }, T0);
    expect(count(held, "spending_limit.reached")).toBe(1);
    expect(count(rules.debit(held.state, charge(150), T0), "spending_limit.reached")).toBe(0);
  });

  it("fires once per period even when daily and monthly refusals alternate", () => {
    // Daily 100, monthly 150; 40 spent today, 140 this month. 70 more passes the daily limit; 20 more
    // passes only the monthly one. Each limit is reached once this day, so at most one event each.
    let state = ledger({
      lots: rich,
      settings: { limits: { daily: 100, monthly: 150 } },
      spend: { dayKey: "2026-11-24", day: 40, monthKey: "2026-11", month: 140 },
    });
    const types: string[] = [];
    for (const amount of [70, 20, 70, 20, 70]) {
      const step = rules.debit(state, charge(amount), T0);
      expect(step.outcome.ok).toBe(false);
      for (const e of step.events) types.push(`${e.type}:${String(e.data.period)}`);
      state = step.state;
    }
    expect(types.filter((t) => t === "spending_limit.reached:daily")).toHaveLength(1);
    expect(types.filter((t) => t === "spending_limit.reached:monthly")).toHaveLength(1);
  });
});
