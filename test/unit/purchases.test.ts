import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { totals } from "../../durable-objects/ledger/draft";
import * as payments from "../../durable-objects/ledger/purchases";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState } from "../../durable-objects/ledger/types";
import { charge, DAY, HOUR, ledger, lot, ok, refused, T0 } from "./fixtures";

const purchaseOf = (reference: string, amount: number) => ({
  lotId: `lot-${reference}`,
  amount,
  expiresAt: null,
  priority: 0,
  reference,
  description: null,
  metadata: null,
  event: { package_id: "starter" },
});

const refund = (target: number, already: number, reference = "cs_1") => ({
  key: `refund:${reference}`,
  target,
  already,
  reference,
  description: null,
  metadata: null,
  event: { type: "purchase.refunded" as const, data: { purchase: reference } },
});

describe("clawbackTarget", () => {
  it("is ⌊credits × refunded / paid⌋, never more than was bought", () => {
    expect(payments.clawbackTarget(1000, 500, 250)).toBe(500);
    expect(payments.clawbackTarget(1000, 300, 100)).toBe(333);
    expect(payments.clawbackTarget(1000, 500, 500)).toBe(1000);
    expect(payments.clawbackTarget(1000, 500, 900)).toBe(1000);
    expect(payments.clawbackTarget(1000, 500, 0)).toBe(0);
    expect(payments.clawbackTarget(Number.MAX_SAFE_INTEGER, 3, 2)).toBe(Number((BigInt(Number.MAX_SAFE_INTEGER) * 2n) / 3n));
  });
});

describe("purchase", () => {
  it("adds a purchase lot with its reference and records purchase.completed", () => {
    const step = payments.purchase(ledger(), purchaseOf("cs_1", 1000), T0);
    expect(ok(step)).toMatchObject({ balance: 1000, lotId: "lot-cs_1", debtPaid: 0 });
    expect(step.lots).toEqual([expect.objectContaining({ source: "purchase", reference: "cs_1", amount: 1000, remaining: 1000 })]);
    expect(step.events).toEqual([
      expect.objectContaining({ type: "purchase.completed", data: { package_id: "starter", lot_id: "lot-cs_1", credits: 1000, debt_paid: 0 } }),
    ]);
  });

  it("pays existing debt first", () => {
    const step = payments.purchase(ledger({ debt: 300 }), purchaseOf("cs_1", 1000), T0);
    expect(ok(step)).toMatchObject({ balance: 700, debt: 0, debtPaid: 300 });
    expect(step.entries[0]).toMatchObject({ kind: "grant", amount: 1000, balanceAfter: 700, metadata: { debt_paid: 300 } });
  });
});

describe("clawback", () => {
  const bought = (): LedgerState =>
    ledger({
      lots: [
        // Expires (so burns before the never-expiring lot of the same priority), but outside the
        // credits.expiring week, so a clawback step carries only its own event.
        lot({ id: "promo", amount: 200, expiresAt: T0 + 30 * DAY }),
        lot({ id: "lot-cs_1", amount: 1000, reference: "cs_1", source: "purchase" }),
        lot({ id: "other", amount: 300, priority: 5 }),
      ],
    });

  it("takes from the purchase's own lot first, then the others in burn order", () => {
    const step = payments.clawback(bought(), refund(1100, 0), T0);
    expect(ok(step)).toMatchObject({ clawedBack: 1100, total: 1100, debtAdded: 0, balance: 400 });
    const remaining = Object.fromEntries(step.state.lots.map((l) => [l.id, l.remaining]));
    expect(remaining).toEqual({ promo: 100, "lot-cs_1": 0, other: 300 });
    expect(step.entries).toEqual([
      expect.objectContaining({ kind: "clawback", amount: -1100, lotId: "lot-cs_1", metadata: { clawback: "refund:cs_1" } }),
    ]);
    expect(step.events).toEqual([
      expect.objectContaining({ type: "purchase.refunded", data: { purchase: "cs_1", credits_clawed_back: 1100, total_clawed_back: 1100 } }),
    ]);
  });

  it("what no lot covers becomes debt, and the next purchase pays it first", () => {
    const spent = ledger({ lots: [lot({ id: "lot-cs_1", amount: 1000, remaining: 100, reference: "cs_1", source: "purchase" })] });
    const step = payments.clawback(spent, refund(1000, 0), T0);
    expect(ok(step)).toMatchObject({ clawedBack: 1000, debtAdded: 900, balance: -900, debt: 900 });
    expect(refused(rules.debit(step.state, charge(1), T0)).type).toBe("account_in_debt");
    const next = payments.purchase(step.state, purchaseOf("cs_2", 1000), T0);
    expect(ok(next)).toMatchObject({ debtPaid: 900, balance: 100 });
  });

  it("a target at or below what was clawed back changes nothing", () => {
    for (const [target, already] of [
      [500, 500],
      [300, 500],
      [0, 0],
    ] as const) {
      const step = payments.clawback(bought(), refund(target, already), T0);
      expect(ok(step)).toMatchObject({ clawedBack: 0, total: already, balance: 1500 });
      expect(step.entries).toEqual([]);
      expect(step.events).toEqual([]);
    }
  });

  it("property: refunds delivered any number of times in any order claw back exactly the largest target, once", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 8 }), fc.nat(), (targets, seed) => {
        // Each cumulative target delivered twice, in an order the seed scrambles.
        const deliveries = [...targets, ...targets].sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        let state = bought();
        let already = 0;
        let journal = 0;
        for (const target of deliveries) {
          const step = payments.clawback(state, refund(target, already), T0);
          already = ok(step).total;
          journal += step.entries.reduce((sum, e) => sum + e.amount, 0);
          state = step.state;
        }
        const largest = Math.max(...targets);
        expect(already).toBe(largest);
        expect(journal + largest).toBe(0);
        expect(totals(state, T0).balance).toBe(1500 - largest);
      }),
      { numRuns: 200 },
    );
  });
});

describe("blocks and disputes", () => {
  const dispute = (target: number, already = 0) => ({
    ...refund(target, already),
    key: "dispute:dp_1",
    event: { type: "dispute.opened" as const, data: { dispute: "dp_1" } },
    reason: "a payment dispute is open",
  });

  it("a dispute claws back and blocks: debits and holds get spending_blocked before any other reason", () => {
    const start = ledger({ lots: [lot({ id: "lot-cs_1", amount: 1000, remaining: 100, reference: "cs_1", source: "purchase" })] });
    const step = payments.openDispute(start, dispute(500), T0);
    expect(ok(step)).toMatchObject({ clawedBack: 500, debt: 400 });
    // In debt as well, but the block is the reason given.
    expect(refused(rules.debit(step.state, charge(1), T0))).toMatchObject({ type: "spending_blocked", details: { reason: "a payment dispute is open" } });
    expect(refused(rules.placeHold(step.state, { ...charge(1), holdId: "h", ttlMs: HOUR }, T0)).type).toBe("spending_blocked");
  });

  it("a hold placed before the block still captures (the work happened)", () => {
    const held = ok_(rules.placeHold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), { ...charge(40), holdId: "h", ttlMs: HOUR }, T0)).state;
    const blocked = payments.setBlock(held, { key: "admin", blocked: true, reason: "fraud review" }, T0).state;
    expect(ok(rules.captureHold(blocked, "h", charge(30), T0))).toMatchObject({ cost: 30, balance: 70 });
  });

  it("won gives the clawed credits back and lifts its block; lost keeps the clawback", () => {
    const start = ledger({ lots: [lot({ id: "lot-cs_1", amount: 1000, reference: "cs_1", source: "purchase" })] });
    const opened = payments.openDispute(start, dispute(600), T0).state;
    const close = (won: boolean) =>
      payments.closeDispute(
        opened,
        {
          key: "dispute:dp_1",
          won,
          clawed: 600,
          lot: { lotId: "lot-back", expiresAt: null, priority: 0, reference: "cs_1", description: null, metadata: null },
          event: { dispute: "dp_1" },
        },
        T0 + HOUR,
      );
    const won = close(true);
    expect(ok(won)).toMatchObject({ restored: 600, balance: 1000 });
    expect(won.state.blocks).toEqual({});
    expect(won.events).toEqual([expect.objectContaining({ type: "dispute.closed", data: { dispute: "dp_1", won: true, credits_restored: 600 } })]);
    const lost = close(false);
    expect(ok(lost)).toMatchObject({ restored: 0, balance: 400 });
    expect(lost.state.blocks).toEqual({});
    expect(ok(rules.debit(lost.state, charge(1), T0 + HOUR)).balance).toBe(399);
  });

  it("closing a dispute does not lift an operator's block", () => {
    const start = payments.setBlock(ledger({ lots: [lot({ id: "a", amount: 100 })] }), { key: "admin", blocked: true, reason: "fraud review" }, T0).state;
    const opened = payments.openDispute(start, dispute(0), T0 + 1).state;
    expect(Object.keys(opened.blocks).sort()).toEqual(["admin", "dispute:dp_1"]);
    const closed = payments.closeDispute(
      opened,
      { key: "dispute:dp_1", won: false, clawed: 0, lot: { lotId: "x", expiresAt: null, priority: 0, reference: null, description: null, metadata: null }, event: {} },
      T0 + 2,
    ).state;
    expect(refused(rules.debit(closed, charge(1), T0 + 3)).details).toMatchObject({ reason: "fraud review" });
    expect(ok(rules.debit(payments.setBlock(closed, { key: "admin", blocked: false, reason: "" }, T0 + 4).state, charge(1), T0 + 5)).balance).toBe(99);
  });
});

function ok_<S extends { outcome: { ok: boolean } }>(step: S): S {
  if (!step.outcome.ok) throw new Error("setup step was refused");
  return step;
}

describe("PURCHASE_EXPIRY_DAYS", () => {
  it("defaults to 365, 0 means never, anything else but whole days is refused", () => {
    expect(payments.parsePurchaseExpiryDays(undefined)).toBe(365);
    expect(payments.parsePurchaseExpiryDays("0")).toBe(0);
    expect(payments.purchaseExpiry(T0, 0)).toBeNull();
    expect(payments.purchaseExpiry(T0, 30)).toBe(T0 + 30 * 24 * HOUR);
    for (const bad of ["-1", "1.5", "year"]) expect(() => payments.parsePurchaseExpiryDays(bad)).toThrow(/PURCHASE_EXPIRY_DAYS/);
  });
});
