import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { burnAroundHolds, holdsCovered, thresholds } from "../../durable-objects/ledger/cover";
import type { Hold, Lot } from "../../durable-objects/ledger/types";
import { lot, MINUTE, T0 } from "./fixtures";

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
