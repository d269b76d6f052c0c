// Refunds and disputes of one purchase as pure rules (ledger/claims.ts): the facts merge the same
// whatever the order, the clawback target follows from the facts alone, and the account is moved to it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as claims from "../../durable-objects/ledger/claims";
import { totals } from "../../durable-objects/ledger/draft";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState } from "../../durable-objects/ledger/types";
import { charge, DAY, ledger, lot, ok, refused, T0 } from "./fixtures";

const PAID = 500;
const CREDITS = 1000;
const NO = claims.NO_FACTS;

/** Stripe's cumulative figure as reported at `at` (Unix seconds). */
const refundedTo = (amount: number, at = 1): claims.ClaimFacts => ({ ...NO, refunded: { amount, at } });
/** A refund told by its own event, failed at `failedAt` (null: it stands). */
const refund = (id: string, amount: number, failedAt: number | null): claims.ClaimFacts => ({ ...NO, refunds: { [id]: { amount, failedAt } } });
const refundFailed = (id: string, amount: number, at = 2) => refund(id, amount, at);
const disputeAt = (id: string, status: claims.DisputeStatus, amount = PAID): claims.ClaimFacts => ({ ...NO, disputes: { [id]: { amount, status } } });

const bought = (): LedgerState =>
  ledger({
    lots: [
      // Expires (so burns before the never-expiring lot of the same priority), but outside the
      // credits.expiring week, so a step carries only its own events.
      lot({ id: "promo", amount: 200, expiresAt: T0 + 30 * DAY }),
      lot({ id: "lot-cs_1", amount: 1000, reference: "cs_1", source: "purchase" }),
      lot({ id: "other", amount: 300, priority: 5 }),
    ],
  });

let lots = 0;
/** Tells the account `facts` about purchase cs_1, carrying the kept record from step to step. */
function tell(state: LedgerState, current: claims.PurchaseClaims | null, facts: claims.ClaimFacts, now = T0) {
  const step = claims.applyClaims(
    state,
    { reference: "cs_1", credits: CREDITS, paid: PAID, currency: "usd", facts, current, restoreLot: { lotId: `back-${++lots}`, expiresAt: null, priority: 0 } },
    now,
  );
  return { step, value: ok(step), state: step.state, kept: ok(step).claims };
}

describe("the clawback target", () => {
  it("is ⌊credits × min(paid, refunded + disputed) / paid⌋: a refund and a dispute of one charge never take more than it credited", () => {
    expect(claims.claimTarget(1000, 500, refundedTo(250))).toBe(500);
    expect(claims.claimTarget(1000, 300, refundedTo(100))).toBe(333);
    expect(claims.claimTarget(1000, 500, claims.mergeFacts(refundedTo(500), disputeAt("dp", "open")))).toBe(1000);
    expect(claims.claimTarget(1000, 500, claims.mergeFacts(refundedTo(250), disputeAt("dp", "lost", 250)))).toBe(1000);
    expect(claims.claimTarget(Number.MAX_SAFE_INTEGER, 3, refundedTo(2))).toBe(Number((BigInt(Number.MAX_SAFE_INTEGER) * 2n) / 3n));
  });

  it("inquiries and won disputes take nothing; a failed refund takes nothing", () => {
    expect(claims.claimTarget(1000, 500, disputeAt("dp", "inquiry"))).toBe(0);
    expect(claims.claimTarget(1000, 500, disputeAt("dp", "won"))).toBe(0);
    expect(claims.claimTarget(1000, 500, claims.mergeFacts(refundedTo(250, 1), refundFailed("re_1", 250, 2)))).toBe(0);
  });

  it("a refund made after one failed is taken: Stripe's figure is read as of when it was reported, not as the largest", () => {
    // 250 refunded (t=1), that refund fails (t=2: Stripe's figure drops to 0), 250 refunded again (t=3).
    const facts = [refundedTo(250, 1), refundFailed("re_1", 250, 2), refundedTo(250, 3)].reduce(claims.mergeFacts, NO);
    expect(claims.claimTarget(1000, 500, facts)).toBe(500);
    // Told in any order, the same.
    expect(claims.claimTarget(1000, 500, [refundedTo(250, 3), refundFailed("re_1", 250, 2), refundedTo(250, 1)].reduce(claims.mergeFacts, NO))).toBe(500);
    // Refunds known by their own events count too, whatever the figure's timing.
    const byId = [refundedTo(250, 5), refundFailed("re_1", 250, 5), refund("re_2", 250, null)].reduce(claims.mergeFacts, NO);
    expect(claims.claimTarget(1000, 500, byId)).toBe(500);
  });

  it("the share is of the charge's own amount when Stripe said it (a charge of 460 for a sale of 500)", () => {
    expect(claims.claimTarget(1000, 500, { ...refundedTo(460), charge: 460 })).toBe(1000);
  });

  it("maps Stripe's dispute statuses: warning_* are inquiries, needs_response and under_review are open", () => {
    expect(["warning_needs_response", "warning_under_review", "warning_closed", "needs_response", "under_review", "won", "lost", "charge_refunded"].map(claims.disputeStatus)).toEqual([
      "inquiry",
      "inquiry",
      "inquiry_closed",
      "open",
      "open",
      "won",
      "lost",
      null,
    ]);
  });
});

describe("the merge", () => {
  const facts = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: PAID }), fc.nat(5)).map(([amount, at]) => refundedTo(amount, at)),
    fc.tuple(fc.constantFrom("re_1", "re_2"), fc.integer({ min: 1, max: PAID }), fc.option(fc.nat(5), { nil: null })).map(([id, amount, at]) => refund(id, amount, at)),
    fc.tuple(fc.constantFrom("dp_1", "dp_2"), fc.constantFrom<claims.DisputeStatus>("inquiry", "open", "inquiry_closed", "won", "lost"), fc.integer({ min: 1, max: PAID })).map(
      ([id, status, amount]) => disputeAt(id, status, amount),
    ),
    fc.integer({ min: 1, max: PAID }).map((charge) => ({ ...NO, charge })),
  );

  it("property: commutative, associative and idempotent, so any order or repetition of events gives the same facts", () => {
    fc.assert(
      fc.property(facts, facts, facts, (a, b, c) => {
        expect(claims.mergeFacts(a, b)).toEqual(claims.mergeFacts(b, a));
        expect(claims.mergeFacts(claims.mergeFacts(a, b), c)).toEqual(claims.mergeFacts(a, claims.mergeFacts(b, c)));
        expect(claims.mergeFacts(a, a)).toEqual(a);
      }),
      { numRuns: 300 },
    );
  });

  it("property: telling the account the facts in any order, any number of times, ends with the same balance, and never more taken than credited", () => {
    fc.assert(
      fc.property(fc.array(facts, { minLength: 1, maxLength: 8 }), fc.nat(), (told, seed) => {
        const all = told.reduce(claims.mergeFacts, NO);
        const once = tell(bought(), null, all);
        const deliveries = [...told, ...told].sort((a, b) => ((JSON.stringify(a).length * 7919 + seed) % 101) - ((JSON.stringify(b).length * 7919 + seed) % 101));
        let state = bought();
        let kept: claims.PurchaseClaims | null = null;
        let journal = 0;
        for (const f of deliveries) {
          const t = tell(state, kept, f);
          state = t.state;
          kept = t.kept;
          journal += t.step.entries.reduce((sum, e) => sum + e.amount, 0);
        }
        expect(kept!.clawed).toBe(once.kept.clawed);
        expect(kept!.clawed).toBeLessThanOrEqual(CREDITS);
        expect(totals(state, T0).balance).toBe(totals(once.state, T0).balance);
        expect(1500 + journal).toBe(totals(state, T0).balance);
        expect(Object.keys(state.blocks).sort()).toEqual(Object.keys(once.state.blocks).sort());
      }),
      { numRuns: 200 },
    );
  });
});

describe("moving the account", () => {
  it("takes from the purchase's own lot first, then the others in burn order", () => {
    const partlySpent = { ...bought(), lots: bought().lots.map((l) => (l.id === "lot-cs_1" ? { ...l, remaining: 600 } : l)) };
    const { step, value } = tell(partlySpent, null, refundedTo(PAID));
    expect(value).toMatchObject({ moved: 1000, debtAdded: 0, balance: 100, status: "refunded", refunded: PAID });
    expect(Object.fromEntries(step.state.lots.map((l) => [l.id, l.remaining]))).toEqual({ promo: 0, "lot-cs_1": 0, other: 100 });
    expect(step.entries).toEqual([expect.objectContaining({ kind: "clawback", amount: -1000, lotId: "lot-cs_1" })]);
    expect(step.events).toEqual([expect.objectContaining({ type: "purchase.refunded", data: expect.objectContaining({ amount_refunded: PAID, credits_clawed_back: 1000 }) })]);
  });

  it("a partial refund takes its share; more of it later takes only the difference", () => {
    const half = tell(bought(), null, refundedTo(250));
    expect(half.value).toMatchObject({ moved: 500, status: "partially_refunded" });
    const more = tell(half.state, half.kept, refundedTo(400));
    expect(more.value).toMatchObject({ moved: 300, balance: 700 });
    expect(tell(more.state, more.kept, refundedTo(250)).value.moved).toBe(0);
  });

  it("what no lot covers becomes debt, and spending is refused until it is paid", () => {
    const spent = ledger({ lots: [lot({ id: "lot-cs_1", amount: 1000, remaining: 100, reference: "cs_1", source: "purchase" })] });
    const { state, value } = tell(spent, null, refundedTo(PAID));
    expect(value).toMatchObject({ moved: 1000, debtAdded: 900, balance: -900, debt: 900, status: "refunded" });
    expect(refused(rules.debit(state, charge(1), T0)).type).toBe("account_in_debt");
  });

  it("an open dispute blocks; closed lost keeps the clawback and unblocks; closed won gives it back and unblocks", () => {
    const opened = tell(bought(), null, disputeAt("dp_1", "open"));
    expect(opened.value).toMatchObject({ moved: 1000, status: "disputed" });
    expect(refused(rules.debit(opened.state, charge(1), T0))).toMatchObject({ type: "spending_blocked", details: { reason: "a payment dispute is open" } });
    const lost = tell(opened.state, opened.kept, disputeAt("dp_1", "lost"));
    expect(lost.value).toMatchObject({ moved: 0, balance: 500, status: "disputed" });
    expect(lost.state.blocks).toEqual({});
    const won = tell(opened.state, opened.kept, disputeAt("dp_1", "won"));
    expect(won.value).toMatchObject({ moved: -1000, balance: 1500, status: "paid" });
    expect(won.step.entries).toEqual([expect.objectContaining({ kind: "restore", amount: 1000 })]);
    expect(won.step.events.map((e) => [e.type, e.data.won])).toEqual([["dispute.closed", true]]);
    expect(won.state.blocks).toEqual({});
  });

  it("a closing told before the opening ends closed: the opening is older news and changes nothing", () => {
    const lost = tell(bought(), null, disputeAt("dp_1", "lost"));
    expect(lost.value).toMatchObject({ moved: 1000 });
    expect(lost.state.blocks).toEqual({});
    const late = tell(lost.state, lost.kept, disputeAt("dp_1", "open"));
    expect(late.value.moved).toBe(0);
    expect(late.state.blocks).toEqual({});
    expect(late.step.events).toEqual([]);
  });

  it("a dispute's block lifted by an operator stays lifted when the same dispute is told again", () => {
    const opened = tell(bought(), null, disputeAt("dp_1", "open"));
    const lifted = { ...opened.state, blocks: {} };
    expect(tell(lifted, opened.kept, disputeAt("dp_1", "open")).state.blocks).toEqual({});
  });

  it("closing a dispute does not lift an operator's block", () => {
    const start = { ...bought(), blocks: { admin: { reason: "fraud review", since: T0 } } };
    const opened = tell(start, null, disputeAt("dp_1", "open"));
    const closed = tell(opened.state, opened.kept, disputeAt("dp_1", "won"));
    expect(Object.keys(closed.state.blocks)).toEqual(["admin"]);
  });
});
