import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { burn, burnOrder, isLive, liveCredits, nextExpiry } from "../../durable-objects/ledger/lots";
import type { Lot } from "../../durable-objects/ledger/types";
import { DAY, HOUR, lot, T0 } from "./fixtures";

const ids = (lots: readonly Lot[]) => lots.map((l) => l.id);

describe("burn order", () => {
  it("lower priority burns first, even when another lot expires sooner", () => {
    const soon = lot({ id: "soon", amount: 10, priority: 1, expiresAt: T0 + HOUR });
    const first = lot({ id: "first", amount: 10, priority: 0, expiresAt: null });
    expect(ids([soon, first].sort(burnOrder))).toEqual(["first", "soon"]);
  });

  it("within a priority: soonest expiry first, never-expiring last, then oldest, then id", () => {
    const never = lot({ id: "never", amount: 1, expiresAt: null, createdAt: T0 - DAY });
    const late = lot({ id: "late", amount: 1, expiresAt: T0 + 2 * DAY });
    const early = lot({ id: "early", amount: 1, expiresAt: T0 + DAY });
    const newer = lot({ id: "a-newer", amount: 1, expiresAt: null, createdAt: T0 });
    const older = lot({ id: "z-older", amount: 1, expiresAt: null, createdAt: T0 - 2 * DAY });
    const twinB = lot({ id: "twin-b", amount: 1, expiresAt: T0 + DAY });
    expect(ids([never, late, newer, early, older, twinB].sort(burnOrder))).toEqual([
      "early",
      "twin-b",
      "late",
      "z-older",
      "never",
      "a-newer",
    ]);
  });

  it("burn takes from lots in that order and reports only the lots it touched", () => {
    const lots = [
      lot({ id: "never", amount: 50 }),
      lot({ id: "promo", amount: 30, priority: 0, expiresAt: T0 + DAY }),
      lot({ id: "paid", amount: 100, priority: 1 }),
    ];
    const b = burn(lots, 60, T0);
    expect(b.burned).toBe(60);
    expect(b.shortfall).toBe(0);
    expect(b.lots.map((l) => [l.id, l.remaining])).toEqual([
      ["never", 20],
      ["promo", 0],
      ["paid", 100],
    ]);
    expect(ids(b.changed).sort()).toEqual(["never", "promo"]);
    // The input is not modified.
    expect(lots.map((l) => l.remaining)).toEqual([50, 30, 100]);
  });

  it("burn never takes more than the live lots hold: the rest is the shortfall", () => {
    const lots = [lot({ id: "a", amount: 40 }), lot({ id: "b", amount: 25, expiresAt: T0 + HOUR })];
    const b = burn(lots, 100, T0);
    expect(b.burned).toBe(65);
    expect(b.shortfall).toBe(35);
    expect(b.lots.every((l) => l.remaining === 0)).toBe(true);
  });

  it("burn skips lots that have expired, even if they still show remaining credits", () => {
    const lots = [lot({ id: "gone", amount: 50, expiresAt: T0 }), lot({ id: "kept", amount: 50 })];
    const b = burn(lots, 30, T0);
    expect(b.lots.map((l) => [l.id, l.remaining])).toEqual([
      ["gone", 50],
      ["kept", 20],
    ]);
  });

  it("property: burn conserves credits and follows the order", () => {
    const lotArb = fc.record({
      amount: fc.integer({ min: 1, max: 100 }),
      used: fc.integer({ min: 0, max: 100 }),
      priority: fc.integer({ min: 0, max: 2 }),
      expiresIn: fc.option(fc.integer({ min: -2, max: 5 }), { nil: null }),
      age: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(lotArb, { maxLength: 8 }), fc.integer({ min: 0, max: 600 }), (specs, amount) => {
        const lots = specs.map((s, i) =>
          lot({
            id: `l${i}`,
            amount: s.amount,
            remaining: Math.max(0, s.amount - s.used),
            priority: s.priority,
            expiresAt: s.expiresIn === null ? null : T0 + s.expiresIn * HOUR,
            createdAt: T0 - s.age * HOUR,
          }),
        );
        const before = liveCredits(lots, T0);
        const b = burn(lots, amount, T0);
        expect(b.burned + b.shortfall).toBe(amount);
        expect(b.burned).toBe(Math.min(amount, before));
        expect(liveCredits(b.lots, T0)).toBe(before - b.burned);
        // Lots that were not live are untouched; no lot goes below 0.
        b.lots.forEach((after, i) => {
          const was = lots[i] as Lot;
          expect(after.remaining).toBeGreaterThanOrEqual(0);
          if (!isLive(was, T0)) expect(after).toBe(was);
        });
        // A lot later in the order is touched only if every lot before it was emptied.
        const order = lots.filter((l) => isLive(l, T0)).sort(burnOrder);
        let emptiedSoFar = true;
        for (const l of order) {
          const after = b.lots.find((x) => x.id === l.id) as Lot;
          if (!emptiedSoFar) expect(after.remaining).toBe(l.remaining);
          emptiedSoFar = after.remaining === 0;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("expiry", () => {
  it("a lot is worth nothing from the instant it expires (expiresAt === now is expired)", () => {
    const l = lot({ id: "l", amount: 70, expiresAt: T0 + HOUR });
    expect(isLive(l, T0 + HOUR - 1)).toBe(true);
    expect(isLive(l, T0 + HOUR)).toBe(false);
    expect(liveCredits([l, lot({ id: "n", amount: 5 })], T0 + HOUR - 1)).toBe(75);
    expect(liveCredits([l, lot({ id: "n", amount: 5 })], T0 + HOUR)).toBe(5);
  });

  it("an empty lot is not live", () => {
    expect(isLive(lot({ id: "e", amount: 10, remaining: 0 }), T0)).toBe(false);
  });

  it("nextExpiry: the earliest future expiry among live lots, summing lots that expire together", () => {
    const lots = [
      lot({ id: "past", amount: 10, expiresAt: T0 }),
      lot({ id: "empty", amount: 10, remaining: 0, expiresAt: T0 + HOUR }),
      lot({ id: "a", amount: 20, remaining: 15, expiresAt: T0 + 2 * HOUR }),
      lot({ id: "b", amount: 7, expiresAt: T0 + 2 * HOUR }),
      lot({ id: "later", amount: 100, expiresAt: T0 + DAY }),
      lot({ id: "never", amount: 100 }),
    ];
    expect(nextExpiry(lots, T0)).toEqual({ at: T0 + 2 * HOUR, amount: 22 });
    expect(nextExpiry(lots, T0 + 2 * HOUR)).toEqual({ at: T0 + DAY, amount: 100 });
    expect(nextExpiry(lots, T0 + DAY)).toBeNull();
    expect(nextExpiry([lot({ id: "never", amount: 5 })], T0)).toBeNull();
  });
});
