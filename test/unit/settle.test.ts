import { describe, expect, it } from "vitest";
import { totals } from "../../durable-objects/ledger/draft";
import * as rules from "../../durable-objects/ledger/rules";
import type { Hold } from "../../durable-objects/ledger/types";
import { DAY, expectBalanceChain, HOUR, ledger, lot, ok, sumAmounts, T0 } from "./fixtures";

const activeHold = (id: string, amount: number, expiresAt: number): Hold => ({
  id,
  amount,
  status: "active",
  operation: "chat",
  createdAt: T0 - HOUR,
  expiresAt,
});

describe("settle", () => {
  // The lots expiring within a week were announced (credits.expiring) before: these tests are about
  // expiries; the notices have their own tests in expiry.test.ts.
  const state = ledger({
    lots: [
      lot({ id: "promo", source: "promo", amount: 50, remaining: 30, expiresAt: T0 + HOUR, expiringNotified: true }),
      lot({ id: "gift", amount: 20, expiresAt: T0 + HOUR - 1, priority: 1, expiringNotified: true }),
      lot({ id: "later", amount: 40, expiresAt: T0 + DAY, expiringNotified: true }),
      lot({ id: "never", amount: 100 }),
    ],
    holds: [activeHold("h1", 25, T0 + HOUR), activeHold("h2", 5, T0 + DAY)],
  });
  const now = T0 + HOUR;

  it("the balance is already expiry-correct before anything is settled", () => {
    expect(totals(state, now)).toEqual({ balance: 140, held: 5, available: 135, debt: 0 });
  });

  it("writes an expire entry with a negative amount per due lot (expiresAt ≤ now), dated at its expiry, and zeroes the lot", () => {
    const step = rules.settle(state, now);
    const expires = step.entries.filter((e) => e.kind === "expire");
    expect(expires.map((e) => [e.lotId, e.amount, new Date(e.createdAt).toISOString()])).toEqual([
      ["gift", -20, "2026-11-24T12:59:59.999Z"], // expired a millisecond before promo, so listed first
      ["promo", -30, "2026-11-24T13:00:00.000Z"],
    ]);
    expect(expires[1]).toMatchObject({
      description: "30 credits from promo expired",
      metadata: { expired_at: new Date(T0 + HOUR).toISOString(), source: "promo" },
      createdAt: now,
    });
    expect(step.lots.map((l) => [l.id, l.remaining]).sort()).toEqual([
      ["gift", 0],
      ["promo", 0],
    ]);
  });

  it("writes a hold_expire entry (amount 0, reserved) for each active hold past its TTL", () => {
    const step = rules.settle(state, now);
    expect(step.entries.filter((e) => e.kind === "hold_expire").map((e) => [e.holdId, e.amount, e.reserved, e.operation])).toEqual([
      ["h1", 0, 25, "chat"],
    ]);
    expect(step.holds).toEqual([{ ...activeHold("h1", 25, T0 + HOUR), status: "expired" }]);
  });

  it("the journal adds up: entries' balance_after run from the unsettled total to the balance", () => {
    const step = rules.settle(state, now);
    expectBalanceChain(step, 190); // 30 + 20 + 40 + 100 credits were in the journal before
    expect(190 + sumAmounts(step)).toBe(140);
    expect(ok(step)).toEqual({ balance: 140, held: 5, available: 135, debt: 0 });
  });

  it("settling twice writes nothing the second time", () => {
    const once = rules.settle(state, now);
    const twice = rules.settle(once.state, now);
    expect(twice.entries).toEqual([]);
    expect(twice.lots).toEqual([]);
    expect(twice.holds).toEqual([]);
    expect(twice.events).toEqual([]);
  });

  it("nothing due, nothing written", () => {
    const step = rules.settle(state, T0);
    expect(step.entries).toEqual([]);
    expect(step.lots).toEqual([]);
    expect(step.holds).toEqual([]);
    expect(step.events).toEqual([]);
  });

  it("reports credits.expired and hold.expired events, in time order, each dated when it fell due", () => {
    const step = rules.settle(state, now);
    expect(step.events.map((e) => [e.type, e.data, new Date(e.createdAt).toISOString()])).toEqual([
      ["credits.expired", { lot_id: "gift", amount: 20, source: "grant", expired_at: "2026-11-24T12:59:59.999Z" }, "2026-11-24T12:59:59.999Z"],
      ["credits.expired", { lot_id: "promo", amount: 30, source: "promo", expired_at: "2026-11-24T13:00:00.000Z" }, "2026-11-24T13:00:00.000Z"],
      ["hold.expired", { hold_id: "h1", amount: 25 }, "2026-11-24T13:00:00.000Z"],
    ]);
  });
});
