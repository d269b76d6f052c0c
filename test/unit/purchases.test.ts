import { describe, expect, it } from "vitest";
import * as payments from "../../durable-objects/ledger/purchases";
import * as rules from "../../durable-objects/ledger/rules";
import { charge, HOUR, ledger, lot, ok, refused, T0 } from "./fixtures";

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

describe("an operator's block", () => {
  it("stops debits and holds with spending_blocked; a hold placed before it still captures (the work happened)", () => {
    const held = ok_(rules.placeHold(ledger({ lots: [lot({ id: "a", amount: 100 })] }), { ...charge(40), holdId: "h", ttlMs: HOUR }, T0)).state;
    const blocked = payments.setAdminBlock(held, { blocked: true, reason: "fraud review" }, T0);
    expect(blocked.entries).toEqual([expect.objectContaining({ kind: "block", amount: 0, metadata: { by: "admin", reason: "fraud review" } })]);
    expect(refused(rules.debit(blocked.state, charge(1), T0))).toMatchObject({ type: "spending_blocked", details: { reason: "fraud review" } });
    expect(ok(rules.captureHold(blocked.state, "h", charge(30), T0))).toMatchObject({ cost: 30, balance: 70 });
  });

  it("allowing lifts every block, a dispute's too, and writes what it lifted; allowing again writes nothing", () => {
    const start = ledger({
      lots: [lot({ id: "a", amount: 100 })],
      blocks: { admin: { reason: "fraud review", since: T0 }, "dispute:dp_1": { reason: "a payment dispute is open", since: T0 + 1 } },
    });
    const allowed = payments.setAdminBlock(start, { blocked: false, reason: "settled by phone" }, T0 + 2);
    expect(allowed.state.blocks).toEqual({});
    expect(allowed.entries).toEqual([
      expect.objectContaining({
        kind: "unblock",
        amount: 0,
        metadata: expect.objectContaining({ reason: "settled by phone", lifted: [expect.objectContaining({ key: "admin" }), expect.objectContaining({ key: "dispute:dp_1" })] }),
      }),
    ]);
    expect(ok(rules.debit(allowed.state, charge(1), T0 + 3)).balance).toBe(99);
    expect(payments.setAdminBlock(allowed.state, { blocked: false, reason: "again" }, T0 + 4).entries).toEqual([]);
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
