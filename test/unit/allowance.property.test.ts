// Allowances under random use: whatever the zone, plan, spending and timing, each period is granted
// exactly once at its own boundary, rollover never exceeds its cap, the journal stays in time order
// and adds up to the balance, and settling late gives the same history as settling on time.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { totals } from "../../durable-objects/ledger/draft";
import { dayKey } from "../../durable-objects/ledger/calendar";
import * as rules from "../../durable-objects/ledger/rules";
import type { AllowancePlan, EntryDraft, LedgerState, Step } from "../../durable-objects/ledger/types";
import { charge, DAY, grantInput, HOUR, ledger } from "./fixtures";

const ZONES = [null, "Europe/Paris", "America/Santiago", "Asia/Kolkata", "Pacific/Kiritimati"] as const;
const START = Date.parse("2026-01-20T10:00:00.000Z");

const plans = fc.record({
  amount: fc.integer({ min: 1, max: 1000 }),
  interval: fc.constantFrom("day" as const, "week" as const, "month" as const),
  rolloverMax: fc.integer({ min: 0, max: 1500 }),
  rolloverExpiresAfterIntervals: fc.integer({ min: 1, max: 3 }),
});

type Action =
  | { kind: "wait"; ms: number }
  | { kind: "debit"; amount: number }
  | { kind: "grant"; amount: number; days: number }
  | { kind: "change"; plan: AllowancePlan | null };

const actions = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 20 * DAY }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("debit" as const), amount: fc.integer({ min: 1, max: 1500 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("grant" as const), amount: fc.integer({ min: 1, max: 2000 }), days: fc.integer({ min: 1, max: 60 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("change" as const), plan: fc.option(plans, { nil: null }) }) },
  ),
  { maxLength: 25 },
);

interface Run {
  state: LedgerState;
  journal: EntryDraft[];
  now: number;
}

function apply(run: Run, step: Step<unknown>, now: number): void {
  run.state = step.state;
  run.journal.push(...step.entries);
  run.now = now;
}

/** Plays the actions; `settleEvery` also settles at every hour mark crossed while waiting (an alarm on time). */
function play(zone: string | null, plan: AllowancePlan, list: Action[], settleEvery: number | null): Run {
  const run: Run = { state: ledger({ settings: { timeZone: zone } }, START), journal: [], now: START };
  apply(run, rules.setAllowance(run.state, plan, START), START);
  let lots = 0;
  for (const action of list) {
    if (action.kind === "wait") {
      const until = run.now + action.ms;
      if (settleEvery !== null) for (let t = run.now + settleEvery; t < until; t += settleEvery) apply(run, rules.settle(run.state, t), t);
      run.now = until;
      continue;
    }
    const step =
      action.kind === "debit"
        ? rules.debit(run.state, charge(action.amount), run.now)
        : action.kind === "grant"
          ? rules.grant(run.state, grantInput(`g${++lots}`, action.amount, { source: "purchase", expiresAt: run.now + action.days * DAY }), run.now)
          : rules.setAllowance(run.state, action.plan, run.now);
    apply(run, step, run.now);
  }
  apply(run, rules.settle(run.state, run.now), run.now);
  return run;
}

/** The local date at an instant, and whether the instant is the first of its local day. */
const startsLocalDay = (t: number, zone: string | null) => dayKey(t - 1, zone) !== dayKey(t, zone);

describe("allowances under random use (property)", () => {
  it("grant each period once at a real boundary, cap rollover, keep the journal in order and equal to the balance; late settling changes nothing", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), plans, actions, (zone, plan, list) => {
        const late = play(zone, plan, list, null);
        const onTime = play(zone, plan, list, 6 * HOUR);

        // The same history, whether each boundary was settled within hours or all at the end.
        const view = (j: EntryDraft[]) => j.map((e) => [e.kind, e.amount, e.createdAt, e.lotId]);
        expect(view(onTime.journal)).toEqual(view(late.journal));

        const journal = late.journal;
        // In time order, and adding up to the balance.
        for (let i = 1; i < journal.length; i++) expect(journal[i]!.createdAt).toBeGreaterThanOrEqual(journal[i - 1]!.createdAt);
        expect(journal.reduce((sum, e) => sum + e.amount, 0)).toBe(totals(late.state, late.now).balance);

        // An allowance granted where the last period ended starts a local day of the kind that period
        // ends on (a change of interval applies from there); one set anew starts when it is set.
        const grants = journal.filter((e) => e.kind === "allowance");
        for (const [i, g] of grants.entries()) {
          const prev = grants[i - 1];
          const at = new Date(g.createdAt).toISOString();
          if (!prev || prev.metadata?.period_end !== at) continue;
          expect(startsLocalDay(g.createdAt, zone), at).toBe(true);
          const local = dayKey(g.createdAt, zone);
          if (prev.metadata?.interval === "week") expect(new Date(`${local}T00:00:00Z`).getUTCDay(), `${at} is a Monday in ${zone}`).toBe(1);
          if (prev.metadata?.interval === "month") expect(local.slice(8), `${at} is the 1st in ${zone}`).toBe("01");
        }
        expect(new Set(grants.map((g) => g.createdAt)).size).toBe(grants.length);
        // A period still running has not ended: nothing due is left unwritten.
        if (late.state.allowance) expect(late.state.allowance.periodEnd).toBeGreaterThan(late.now);

        // Rollover: at most the cap of some plan in force, never more than the allowance left unused.
        const caps = new Set([plan.rolloverMax, ...list.flatMap((a) => (a.kind === "change" && a.plan ? [a.plan.rolloverMax] : []))]);
        for (const r of journal.filter((e) => e.kind === "rollover")) {
          expect(r.amount).toBeLessThanOrEqual(Math.max(...caps));
          const ended = journal.find((e) => e.kind === "expire" && e.createdAt === r.createdAt && e.metadata?.rolled_over === r.amount);
          expect(ended, `rollover at ${new Date(r.createdAt).toISOString()} has its expired allowance`).toBeDefined();
          expect(-ended!.amount).toBeGreaterThanOrEqual(r.amount);
        }

        // Settling again at the same instant writes nothing.
        expect(rules.settle(late.state, late.now).entries).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
