import { describe, expect, it } from "vitest";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState } from "../../durable-objects/ledger/types";
import { charge, HOUR, ledger, lot, MINUTE, ok, refused, sumAmounts, T0 } from "./fixtures";

const TTL = 15 * MINUTE;

/** An account with `credits` in one never-expiring lot and the given holds placed at T0. */
function withHolds(credits: number, holds: Record<string, number>): LedgerState {
  let state = ledger({ lots: [lot({ id: "a", amount: credits })] });
  for (const [id, amount] of Object.entries(holds)) {
    state = ok_(rules.placeHold(state, { ...charge(amount, { operation: "chat" }), holdId: id, ttlMs: TTL }, T0)).state;
  }
  return state;
}
function ok_<S extends { outcome: { ok: boolean } }>(step: S): S {
  if (!step.outcome.ok) throw new Error("setup step was refused");
  return step;
}

describe("capture", () => {
  it("below the hold: charges the actual cost and releases the rest", () => {
    const step = rules.captureHold(withHolds(100, { h: 40 }), "h", charge(25, { quantities: { tokens: 9 } }), T0 + MINUTE);
    expect(ok(step)).toEqual({ balance: 75, held: 0, available: 75, debt: 0, cost: 25, uncharged: 0, released: 15, overrun: 0 });
    expect(step.holds).toEqual([expect.objectContaining({ id: "h", status: "captured" })]);
    expect(step.entries).toHaveLength(1);
    expect(step.entries[0]).toMatchObject({
      kind: "capture",
      amount: -25,
      balanceAfter: 75,
      holdId: "h",
      reserved: 40,
      operation: "chat", // taken from the hold when the capture names none
      quantities: { tokens: 9 },
    });
  });

  it("above the hold but within the credits: takes the excess from what is left, no debt", () => {
    const step = rules.captureHold(withHolds(100, { h: 40 }), "h", charge(70), T0);
    expect(ok(step)).toEqual({ balance: 30, held: 0, available: 30, debt: 0, cost: 70, uncharged: 0, released: 0, overrun: 0 });
  });

  it("above the credits: the shortfall becomes debt, and overrun = debt after − debt before", () => {
    const step = rules.captureHold(withHolds(100, { h: 70 }), "h", charge(130), T0);
    expect(ok(step)).toEqual({ balance: -30, held: 0, available: -30, debt: 30, cost: 130, uncharged: 0, released: 0, overrun: 30 });
    expect(step.state.debt).toBe(30);
    expect(step.state.lots.every((l) => l.remaining === 0)).toBe(true);
    expect(step.entries[0]).toMatchObject({ kind: "capture", amount: -130, balanceAfter: -30 });
  });

  it("a capture while already in debt: overrun counts only the new debt", () => {
    // Holds of 60 and 40 on 100 credits; the first capture overruns into 20 of debt.
    const first = rules.captureHold(withHolds(100, { a: 60, b: 40 }), "a", charge(120), T0);
    expect(ok(first)).toMatchObject({ debt: 20, overrun: 20, held: 40, balance: -20, available: -60 });
    // The work of hold b happened too: capturing it is never refused for lack of credits.
    const second = rules.captureHold(first.state, "b", charge(30), T0);
    expect(ok(second)).toMatchObject({ debt: 50, overrun: 30, released: 10, balance: -50, held: 0, available: -50 });
  });

  it("above the hold while other holds are active: available may go below 0, debt only past the credits", () => {
    const step = rules.captureHold(withHolds(100, { a: 50, b: 50 }), "a", charge(80), T0);
    expect(ok(step)).toEqual({ balance: 20, held: 50, available: -30, debt: 0, cost: 80, uncharged: 0, released: 0, overrun: 0 });
  });

  it("amount 0 releases the whole hold and changes no balance", () => {
    const state = withHolds(100, { h: 40 });
    const step = rules.captureHold(state, "h", charge(0), T0);
    expect(ok(step)).toEqual({ balance: 100, held: 0, available: 100, debt: 0, cost: 0, uncharged: 0, released: 40, overrun: 0 });
    expect(step.holds).toEqual([expect.objectContaining({ id: "h", status: "captured" })]);
    expect(sumAmounts(step)).toBe(0);
    expect(step.entries.map((e) => e.kind)).toEqual(["capture"]);
  });

  it("captures once: a second capture is hold_not_active and writes nothing", () => {
    const once = rules.captureHold(withHolds(100, { h: 40 }), "h", charge(10), T0).state;
    const again = rules.captureHold(once, "h", charge(10), T0);
    expect(refused(again)).toMatchObject({ type: "hold_not_active", details: { status: "captured" } });
    expect(again.entries).toEqual([]);
    expect(again.lots).toEqual([]);
    expect(again.state.lots).toEqual(once.lots);
  });

  it("after its TTL the hold is expired: capture is hold_not_active and the expiry is written", () => {
    const step = rules.captureHold(withHolds(100, { h: 40 }), "h", charge(10), T0 + TTL);
    expect(refused(step)).toMatchObject({ type: "hold_not_active", details: { status: "expired" } });
    expect(step.entries.map((e) => [e.kind, e.amount, e.holdId, e.reserved])).toEqual([["hold_expire", 0, "h", 40]]);
    // One millisecond earlier it could still be captured.
    expect(ok(rules.captureHold(withHolds(100, { h: 40 }), "h", charge(10), T0 + TTL - 1)).balance).toBe(90);
  });

  it("an unknown hold is hold_not_found", () => {
    expect(refused(rules.captureHold(withHolds(100, {}), "missing", charge(1), T0)).type).toBe("hold_not_found");
  });

  it("a capture counts toward spend but is never refused by a limit (the work already happened)", () => {
    const limited = { ...withHolds(1000, { h: 40 }), settings: { ...ledger().settings, limits: { daily: 50, monthly: null } } };
    const step = rules.captureHold(limited, "h", charge(70), T0);
    expect(ok(step)).toMatchObject({ balance: 930, cost: 70, uncharged: 0 });
    expect(step.state.spend.day).toBe(70);
    expect(refused(rules.debit(step.state, charge(1), T0 + HOUR)).type).toBe("spending_limit_exceeded");
  });
});

describe("capture overrun allowance", () => {
  const limited = (credits: number, holds: Record<string, number>, daily: number | null, monthly: number | null = null) => ({
    ...withHoldsUnder(credits, holds, { daily, monthly }),
  });

  it("charges at most the hold plus 100 % by default; the rest is uncharged and said so in the entry", () => {
    const step = rules.captureHold(withHolds(10_000, { h: 1 }), "h", charge(9000, { metadata: { request_id: "r1" } }), T0);
    expect(ok(step)).toEqual({ balance: 9998, held: 0, available: 9998, debt: 0, cost: 2, uncharged: 8998, released: 0, overrun: 0 });
    expect(step.entries[0]).toMatchObject({ kind: "capture", amount: -2, metadata: { request_id: "r1", computed_cost: 9000, uncharged: 8998 } });
  });

  it("follows the configured percent: 0 forbids any overrun, 50 allows half the hold again", () => {
    expect(ok(rules.captureHold(withHolds(1000, { h: 40 }), "h", charge(100), T0, 0))).toMatchObject({ cost: 40, uncharged: 60 });
    expect(ok(rules.captureHold(withHolds(1000, { h: 40 }), "h", charge(100), T0, 50))).toMatchObject({ cost: 60, uncharged: 40 });
    // Within the allowance nothing is held back, and the metadata stays the app's own.
    const within = rules.captureHold(withHolds(1000, { h: 40 }), "h", charge(60), T0, 50);
    expect(ok(within)).toMatchObject({ cost: 60, uncharged: 0 });
    expect(within.entries[0]?.metadata).toBeNull();
  });

  it("with limits daily 100 / monthly 200, a hold of 1 captured at 9,000 charges 2 and spends 2", () => {
    const step = rules.captureHold(limited(10_000, { h: 1 }, 100, 200), "h", charge(9000), T0);
    expect(ok(step)).toMatchObject({ cost: 2, uncharged: 8998 });
    expect(step.state.spend).toMatchObject({ day: 2, month: 2 });
    expect(step.events).toEqual([]);
  });

  it("the charged excess counts toward the limit and raises spending_limit.reached once when it passes it", () => {
    const first = rules.captureHold(limited(10_000, { a: 60, b: 30 }, 100), "a", charge(100), T0);
    expect(ok(first)).toMatchObject({ cost: 100, uncharged: 0 });
    expect(first.events).toEqual([expect.objectContaining({ type: "spending_limit.reached", data: { period: "daily", limit: 100, committed: 130 } })]);
    // Passing it further the same day reports nothing new.
    const second = rules.captureHold(first.state, "b", charge(30), T0 + MINUTE);
    expect(second.events).toEqual([]);
    expect(refused(rules.debit(second.state, charge(1), T0 + MINUTE)).type).toBe("spending_limit_exceeded");
  });

  it("concurrent holds that all overrun pass the limit by at most one allowance between them", () => {
    // Two holds of 50 fill a daily limit of 100; each is captured at 100 (its own hold + 100 %).
    const first = rules.captureHold(limited(10_000, { a: 50, b: 50 }, 100), "a", charge(100), T0);
    expect(ok(first)).toMatchObject({ cost: 100, uncharged: 0 });
    const second = rules.captureHold(first.state, "b", charge(100), T0);
    // b's own 50 was promised within the limit; its excess would take the day to 200, past 100 + 50.
    expect(ok(second)).toMatchObject({ cost: 50, uncharged: 50 });
    expect(second.state.spend.day).toBe(150);
  });

  it("only what the credits cannot cover becomes debt", () => {
    const step = rules.captureHold(withHolds(50, { h: 40 }), "h", charge(200), T0);
    expect(ok(step)).toMatchObject({ cost: 80, uncharged: 120, debt: 30, overrun: 30, balance: -30 });
  });
});

/** withHolds, with spending limits set before the holds are placed. */
function withHoldsUnder(credits: number, holds: Record<string, number>, limits: { daily: number | null; monthly: number | null }): LedgerState {
  let state = ledger({ lots: [lot({ id: "a", amount: credits })], settings: { limits } });
  for (const [id, amount] of Object.entries(holds)) {
    state = ok_(rules.placeHold(state, { ...charge(amount, { operation: "chat" }), holdId: id, ttlMs: TTL }, T0)).state;
  }
  return state;
}
