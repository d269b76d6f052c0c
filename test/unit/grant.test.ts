import { describe, expect, it } from "vitest";
import * as rules from "../../durable-objects/ledger/rules";
import { expectBalanceChain, grantInput, HOUR, ledger, lot, ok, refused, sumAmounts, T0 } from "./fixtures";

describe("grant", () => {
  it("adds a lot and a grant entry; balance and available grow by the amount", () => {
    const step = rules.grant(
      ledger({ lots: [lot({ id: "old", amount: 30 })] }),
      grantInput("new", 120, { source: "purchase", expiresAt: T0 + HOUR, priority: 2, reference: "pi_1", description: "100 pack" }),
      T0,
    );
    expect(ok(step)).toEqual({ balance: 150, held: 0, available: 150, debt: 0, lotId: "new", debtPaid: 0 });
    expect(step.lots).toEqual([
      { id: "new", source: "purchase", amount: 120, remaining: 120, expiresAt: T0 + HOUR, priority: 2, createdAt: T0, reference: "pi_1" },
    ]);
    expect(step.entries).toHaveLength(1);
    expect(step.entries[0]).toMatchObject({ kind: "grant", amount: 120, balanceAfter: 150, lotId: "new", description: "100 pack", createdAt: T0 });
  });

  it("pays debt first: the lot keeps only what is left after the debt", () => {
    const step = rules.grant(ledger({ debt: 40 }), grantInput("g", 100, { metadata: { order: 7 } }), T0);
    expect(ok(step)).toMatchObject({ balance: 60, available: 60, debt: 0, debtPaid: 40 });
    expect(step.state.debt).toBe(0);
    expect(step.lots[0]).toMatchObject({ id: "g", amount: 100, remaining: 60 });
    // The journal records the full grant (it moves the balance from −40 to 60) and says what paid debt.
    expect(step.entries[0]).toMatchObject({ kind: "grant", amount: 100, balanceAfter: 60, metadata: { order: 7, debt_paid: 40 } });
  });

  it("a grant smaller than the debt only reduces it; the account stays in debt", () => {
    const step = rules.grant(ledger({ debt: 100 }), grantInput("g", 30), T0);
    expect(ok(step)).toMatchObject({ balance: -70, available: -70, debt: 70, debtPaid: 30 });
    expect(step.lots[0]).toMatchObject({ remaining: 0 });
    expect(step.entries[0]).toMatchObject({ amount: 30, balanceAfter: -70 });
  });

  it("refuses an expiry that is not in the future (expires_at === now included)", () => {
    for (const expiresAt of [T0, T0 - 1]) {
      const step = rules.grant(ledger(), grantInput("g", 10, { expiresAt }), T0);
      expect(refused(step)).toMatchObject({ type: "invalid_request", details: { field: "expires_at" } });
      expect(step.lots).toEqual([]);
      expect(step.entries).toEqual([]);
    }
  });

  it("settles lots that expired before adding the new one, and the journal still adds up", () => {
    const state = ledger({ lots: [lot({ id: "old", amount: 50, expiresAt: T0 - 1 })] });
    const step = rules.grant(state, grantInput("g", 20), T0);
    expect(ok(step).balance).toBe(20);
    expect(step.entries.map((e) => [e.kind, e.amount])).toEqual([
      ["expire", -50],
      ["grant", 20],
    ]);
    // The journal before the step saw the old lot's 50 credits.
    expectBalanceChain(step, 50);
    expect(50 + sumAmounts(step)).toBe(20);
  });
});
