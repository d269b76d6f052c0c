import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { burnAroundHolds, holdsCovered, thresholds } from "../../durable-objects/ledger/cover";
import type { Hold, Lot } from "../../durable-objects/ledger/types";
import { HOUR, lot, MINUTE, T0 } from "./fixtures";

const hold = (id: string, amount: number, expiresAt: number, status: Hold["status"] = "active"): Hold => ({
  id,
  amount,
  status,
  operation: null,
  createdAt: T0,
  expiresAt,
});

/** The definition, written the slow and obvious way. */
function naiveSlack(lots: Lot[], holds: Hold[], now: number) {
  const active = holds.filter((h) => h.status === "active" && h.expiresAt > now);
  const ends = [...new Set(active.map((h) => h.expiresAt))].sort((a, b) => a - b);
  return ends.map((at) => {
    const cover = lots
      .filter((l) => l.remaining > 0 && (l.expiresAt === null || l.expiresAt > now) && (l.expiresAt === null || l.expiresAt > at))
      .reduce((s, l) => s + l.remaining, 0);
    const need = active.filter((h) => h.expiresAt >= at).reduce((s, h) => s + h.amount, 0);
    return { at, slack: cover - need };
  });
}

const minutes = fc.integer({ min: -5, max: 60 }).map((m) => T0 + m * MINUTE);
const lotsArb = fc.array(
  fc.record({ amount: fc.integer({ min: 1, max: 100 }), used: fc.integer({ min: 0, max: 100 }), expires: fc.option(minutes) }),
  { maxLength: 8 },
);
const holdsArb = fc.array(
  fc.record({ amount: fc.integer({ min: 1, max: 100 }), ends: minutes, status: fc.constantFrom<Hold["status"]>("active", "active", "captured", "expired") }),
  { maxLength: 12 },
);

function build(ls: { amount: number; used: number; expires: number | null }[], hs: { amount: number; ends: number; status: Hold["status"] }[]) {
  const lots = ls.map((l, i) => lot({ id: `l${i}`, amount: l.amount, remaining: Math.max(0, l.amount - l.used), expiresAt: l.expires }));
  const holds = hs.map((h, i) => hold(`h${i}`, h.amount, h.ends, h.status));
  return { lots, holds };
}

describe("hold cover", () => {
  it("computes every hold end's slack as the definition does", () => {
    fc.assert(
      fc.property(lotsArb, holdsArb, (ls, hs) => {
        const { lots, holds } = build(ls, hs);
        expect(thresholds(lots, holds, T0)).toEqual(naiveSlack(lots, holds, T0));
      }),
      { numRuns: 300 },
    );
  });

  it("burning around holds never uncovers a covered hold, and takes all of `available` when covered", () => {
    fc.assert(
      fc.property(lotsArb, holdsArb, fc.integer({ min: 1, max: 400 }), (ls, hs, amount) => {
        const { lots, holds } = build(ls, hs);
        fc.pre(holdsCovered(lots, holds, T0));
        const live = lots.filter((l) => l.expiresAt === null || l.expiresAt > T0).reduce((s, l) => s + l.remaining, 0);
        const held = holds.filter((h) => h.status === "active" && h.expiresAt > T0).reduce((s, h) => s + h.amount, 0);
        const b = burnAroundHolds(lots, amount, holds, T0);
        expect(holdsCovered(b.lots, holds, T0)).toBe(true);
        expect(b.burned).toBe(Math.min(amount, Math.max(0, live - held)));
      }),
      { numRuns: 300 },
    );
  });

  it("handles thousands of concurrent holds sharing a few ends", () => {
    const lots = [lot({ id: "a", amount: 1_000_000 }), lot({ id: "b", amount: 500, expiresAt: T0 + 30 * MINUTE })];
    const holds = Array.from({ length: 5000 }, (_, i) => hold(`h${i}`, 10, T0 + (i % 120) * MINUTE + 1));
    expect(thresholds(lots, holds, T0)).toHaveLength(120);
    expect(holdsCovered(lots, holds, T0)).toBe(true);
  });
});

describe("burning around a hold's cover", () => {
  // "first" burns first by priority but is the only lot that outlives the hold's end; "soon" expires
  // an hour before the hold ends, so it can never pay the hold and should be spent instead.
  const first = lot({ id: "first", amount: 100, priority: 0 });
  const soon = lot({ id: "soon", amount: 100, priority: 1, expiresAt: T0 + HOUR });
  const remaining = (lots: Lot[]) => Object.fromEntries(lots.map((l) => [l.id, l.remaining]));

  it("takes from the lot the hold does not need, even when burn order says otherwise", () => {
    const b = burnAroundHolds([first, soon], 50, [hold("h", 100, T0 + 2 * HOUR)], T0);
    // Plain burn order would take the 50 from "first", leaving the hold 50 short when "soon" expires.
    expect(remaining(b.lots)).toEqual({ first: 100, soon: 50 });
    expect(b.changed).toEqual([{ ...soon, remaining: 50 }]);
    expect(b).toMatchObject({ burned: 50, shortfall: 0 });
  });

  it("takes only the hold's slack from the lot that covers it, then moves on", () => {
    // The hold needs 60 of "first": its other 40 burn first, the remaining 10 come from "soon".
    const b = burnAroundHolds([first, soon], 50, [hold("h", 60, T0 + 2 * HOUR)], T0);
    expect(remaining(b.lots)).toEqual({ first: 60, soon: 90 });
    expect(b).toMatchObject({ burned: 50, shortfall: 0 });
  });

  it("reports as shortfall what only the hold's credits could pay", () => {
    // 200 live, 100 held by a hold only "first" can pay: just the 100 of "soon" are free.
    const b = burnAroundHolds([first, soon], 150, [hold("h", 100, T0 + 2 * HOUR)], T0);
    expect(remaining(b.lots)).toEqual({ first: 100, soon: 0 });
    expect(b).toMatchObject({ burned: 100, shortfall: 50 });
  });

  it("shares one slack among all the lots that cover the hold", () => {
    // 200 cover a hold of 100: once "first" has used up the 100 of slack, "later" must keep its 100.
    const later = lot({ id: "later", amount: 100, priority: 1 });
    const b = burnAroundHolds([first, later], 150, [hold("h", 100, T0 + 2 * HOUR)], T0);
    expect(remaining(b.lots)).toEqual({ first: 0, later: 100 });
    expect(b).toMatchObject({ burned: 100, shortfall: 50 });
  });

  it("burns in plain burn order once the hold is no longer active", () => {
    const b = burnAroundHolds([first, soon], 50, [hold("h", 100, T0 + 2 * HOUR, "captured")], T0);
    expect(remaining(b.lots)).toEqual({ first: 50, soon: 100 });
  });
});
