import { describe, expect, it } from "vitest";
import { totals } from "../../durable-objects/ledger/draft";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState } from "../../durable-objects/ledger/types";
import { charge, HOUR, ledger, lot, MINUTE, ok, refused, T0 } from "./fixtures";

const TTL = 15 * MINUTE;
const hold = (state: LedgerState, id: string, amount: number, now = T0, ttlMs = TTL) =>
  rules.placeHold(state, { ...charge(amount, { operation: "chat" }), holdId: id, ttlMs }, now);

describe("placing a hold", () => {
  it("reserves credits: balance unchanged, available down, a hold entry that moves nothing", () => {
    const step = hold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), "h1", 40);
    const value = ok(step);
    expect(value).toMatchObject({ balance: 100, held: 40, available: 60, debt: 0 });
    expect(value.hold).toEqual({ id: "h1", amount: 40, status: "active", operation: "chat", createdAt: T0, expiresAt: T0 + TTL });
    expect(step.holds).toEqual([value.hold]);
    expect(step.lots).toEqual([]);
    expect(step.entries).toHaveLength(1);
    expect(step.entries[0]).toMatchObject({ kind: "hold", amount: 0, reserved: 40, holdId: "h1", balanceAfter: 100, operation: "chat" });
  });

  it("is refused like a debit: more than available, in debt, over the limit", () => {
    const state = ledger({ lots: [lot({ id: "a", amount: 100 })] });
    expect(refused(hold(state, "h", 101))).toMatchObject({ type: "insufficient_credits", details: { required: 101, available: 100 } });
    expect(refused(hold(ledger({ debt: 1 }), "h", 1)).type).toBe("account_in_debt");
    const limited = ledger({ lots: [lot({ id: "a", amount: 100 })], settings: { limits: { daily: 50, monthly: null } } });
    expect(refused(hold(limited, "h", 51)).type).toBe("spending_limit_exceeded");
  });

  it("holds add up: the second hold sees only what the first left available", () => {
    const first = hold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), "h1", 60).state;
    expect(refused(hold(first, "h2", 41)).details).toEqual({ required: 41, available: 40 });
    expect(ok(hold(first, "h2", 40))).toMatchObject({ held: 100, available: 0 });
  });

  it("stops reserving at the instant its TTL ends", () => {
    const state = hold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), "h1", 40).state;
    expect(totals(state, T0 + TTL - 1)).toMatchObject({ held: 40, available: 60 });
    expect(totals(state, T0 + TTL)).toMatchObject({ held: 0, available: 100 });
  });
});

describe("releasing a hold", () => {
  it("gives back the whole reservation and writes a release entry", () => {
    const state = hold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), "h1", 40).state;
    const step = rules.releaseHold(state, "h1", T0 + MINUTE);
    expect(ok(step)).toEqual({ balance: 100, held: 0, available: 100, debt: 0, released: 40 });
    expect(step.holds).toEqual([expect.objectContaining({ id: "h1", status: "released" })]);
    expect(step.entries.map((e) => [e.kind, e.amount, e.holdId, e.reserved])).toEqual([["release", 0, "h1", 40]]);
  });

  it("a second release, or a capture after release, is hold_not_active", () => {
    const state = rules.releaseHold(hold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), "h1", 40).state, "h1", T0).state;
    for (const step of [rules.releaseHold(state, "h1", T0), rules.captureHold(state, "h1", charge(10), T0)]) {
      expect(refused(step)).toMatchObject({ type: "hold_not_active", details: { status: "released" } });
      expect(step.entries).toEqual([]);
      expect(step.holds).toEqual([]);
    }
  });

  it("releasing a hold whose TTL has passed is hold_not_active, and writes its expiry", () => {
    const state = hold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), "h1", 40).state;
    const step = rules.releaseHold(state, "h1", T0 + TTL);
    expect(refused(step)).toMatchObject({ type: "hold_not_active", details: { status: "expired" } });
    expect(step.entries.map((e) => [e.kind, e.amount, e.holdId])).toEqual([["hold_expire", 0, "h1"]]);
    expect(step.holds).toEqual([expect.objectContaining({ id: "h1", status: "expired" })]);
  });

  it("an unknown hold is hold_not_found", () => {
    expect(refused(rules.releaseHold(ledger(), "nope", T0)).type).toBe("hold_not_found");
  });
});

describe("credits under an active hold", () => {
  it("is refused when the credits it needs expire before it ends", () => {
    const state = ledger({ lots: [lot({ id: "short", amount: 100, expiresAt: T0 + 5 * MINUTE })] });
    expect(refused(hold(state, "h1", 100, T0, HOUR))).toMatchObject({
      type: "insufficient_credits",
      details: { required: 100, available: 100, reason: "credits_expire_before_hold_ends" },
    });
    // The same hold for less time than the credits last is fine.
    expect(ok(hold(state, "h1", 100, T0, 4 * MINUTE)).available).toBe(0);
  });

  it("keeps its cover: spending burns around it, so a lot expiring later leaves it paid", () => {
    // "long" burns first by priority, but it is the only lot that outlives the hold.
    const state = ledger({
      lots: [
        lot({ id: "long", amount: 100, priority: 0 }),
        lot({ id: "short", amount: 100, priority: 5, expiresAt: T0 + 5 * MINUTE }),
      ],
    });
    const placed = hold(state, "h1", 100, T0, HOUR);
    const debited = rules.debit(placed.state, charge(100), T0 + MINUTE);
    expect(debited.lots.map((l) => [l.id, l.remaining])).toEqual([["short", 0]]);
    const later = T0 + 10 * MINUTE;
    expect(totals(debited.state, later).available).toBe(0);
    expect(ok(rules.captureHold(debited.state, "h1", charge(100), later))).toMatchObject({ overrun: 0, debt: 0, balance: 0 });
  });
});
