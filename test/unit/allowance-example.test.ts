// The worked example of README ("Allowances and rollover"), run through the rules: if this fails, the
// README's table is wrong.
import { describe, expect, it } from "vitest";
import { totals } from "../../durable-objects/ledger/draft";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState, Step } from "../../durable-objects/ledger/types";
import { charge, grantInput, ledger } from "./fixtures";

const at = (iso: string) => Date.parse(iso);
const PLAN = { amount: 1000, interval: "month" as const, rolloverMax: 500, rolloverExpiresAfterIntervals: 1 };

function ok<R>(step: Step<R>): LedgerState {
  expect(step.outcome.ok, JSON.stringify(step.outcome)).toBe(true);
  return step.state;
}

const boundary = (step: Step<unknown>, iso: string) =>
  step.entries.filter((e) => e.createdAt === at(iso)).map((e) => [e.kind, e.amount, (e.metadata as { rolled_over?: number } | null)?.rolled_over ?? null]);
const remaining = (state: LedgerState, source: string) => state.lots.filter((l) => l.source === source && l.remaining > 0).reduce((sum, l) => sum + l.remaining, 0);

describe("README's worked example: a monthly allowance of 1000, rollover_max 500", () => {
  it("rolls over, expires and grants exactly as the table says", () => {
    let s = ok(rules.setAllowance(ledger({}, at("2026-03-10T12:00:00Z")), PLAN, at("2026-03-10T12:00:00Z")));
    s = ok(rules.debit(s, charge(300), at("2026-03-15T12:00:00Z")));

    // 1 April: 700 left, 500 roll over, 200 expire. April spends 1200: the 500 rolled over first.
    const april = rules.debit(s, charge(1200), at("2026-04-05T12:00:00Z"));
    expect(boundary(april, "2026-04-01T00:00:00Z")).toEqual([["expire", -700, 500], ["rollover", 500, null], ["allowance", 1000, null]]);
    s = ok(april);
    expect(remaining(s, "rollover")).toBe(0);
    expect(remaining(s, "allowance")).toBe(300);

    // 1 May: 300 left, all of it rolls over.
    const may = rules.settle(s, at("2026-05-03T12:00:00Z"));
    expect(boundary(may, "2026-05-01T00:00:00Z")).toEqual([["expire", -300, 300], ["rollover", 300, null], ["allowance", 1000, null]]);
    s = ok(may);

    // 1 June, after an idle May: the 300 rolled into May expire, 500 of the allowance roll over, 500 expire.
    const june = rules.settle(s, at("2026-06-01T06:00:00Z"));
    expect(boundary(june, "2026-06-01T00:00:00Z")).toEqual([["expire", -300, null], ["expire", -1000, 500], ["rollover", 500, null], ["allowance", 1000, null]]);
    s = ok(june);

    // June: 2000 purchased, 2000 spent: 500 rolled over, 1000 allowance, then 500 purchased.
    s = ok(rules.grant(s, grantInput("purchase_1", 2000, { source: "purchase", expiresAt: at("2027-06-10T00:00:00Z") }), at("2026-06-10T00:00:00Z")));
    s = ok(rules.debit(s, charge(2000), at("2026-06-20T00:00:00Z")));
    expect([remaining(s, "rollover"), remaining(s, "allowance"), remaining(s, "purchase")]).toEqual([0, 0, 1500]);

    // 1 July: nothing left to roll over; the new allowance comes on top of the 1500 purchased.
    const july = rules.settle(s, at("2026-07-01T01:00:00Z"));
    expect(boundary(july, "2026-07-01T00:00:00Z")).toEqual([["allowance", 1000, null]]);
    expect(totals(july.state, at("2026-07-01T01:00:00Z")).balance).toBe(2500);
  });
});
