// Payments edge cases found by issue 20's review, in the pure rules (each reproduced before it was fixed);
// the comment above each says what it shows. (The Workers-level reproductions are in
// test/workers/payments-edges.test.ts.)
import { describe, expect, it } from "vitest";
import * as claims from "../../durable-objects/ledger/claims";
import { configureRecharge, prepareRecharge, type RechargePlan } from "../../durable-objects/ledger/recharge";
import { rechargeFailed } from "../../durable-objects/ledger/purchases";
import { HOUR, ledger, lot, ok, T0 } from "./fixtures";

const NO = claims.NO_FACTS;

describe("claims after a failed refund", () => {
  // Stripe's amount_refunded goes back down when a refund fails. The facts keep the largest figure
  // ever reported and subtract every failed refund from it, so the 250 refunded again after the
  // failed 250 (amount_refunded = 250 again) counts as nothing: 0 credits clawed back instead of 500.
  it("charge.refunded 250, that refund fails, charge.refunded 250 (a new refund): the target is half the credits", () => {
    const told: claims.ClaimFacts[] = [
      { ...NO, refunded: { amount: 250, at: 100 } },
      { ...NO, refunds: { re_1: { amount: 250, failedAt: 200 } } },
      { ...NO, refunded: { amount: 250, at: 300 } },
    ];
    const facts = told.reduce(claims.mergeFacts, NO);
    expect(claims.claimTarget(1000, 500, facts)).toBe(500);
  });
});

describe("a retry's monthly limit", () => {
  const plan = (over: Partial<RechargePlan> = {}): RechargePlan => ({ threshold: 500, packageId: "big", credits: 1000, amount: 500, currency: "usd", monthlyLimit: null, ...over });
  const card = { customer: "cus_1", paymentMethod: "pm_1", savedAt: 1 };

  // whyNotCharge checks chargedThisMonth + plan.amount (the CURRENT plan), but the try that goes is
  // the attempt's fixed terms (the package at the first try): a 500 charge with a 300 monthly limit.
  it("a declined attempt's retry after the plan moved to a 100 package with a 300 limit does not send 500", () => {
    let state = ledger({ lots: [lot({ id: "a", amount: 400 })] });
    state = { ...state, autoRecharge: configureRecharge(null, true, plan(), T0, null, card) };
    // A crossing raised attempt 1 and its first try was sent with the big package's terms, then declined.
    state = { ...state, autoRecharge: { ...state.autoRecharge!, status: "in_flight", attempts: 1, inFlight: { number: 1, tries: 1, nextTryAt: T0, since: T0 } } };
    const first = prepareRecharge(state, T0, "arc_1");
    expect(ok(first)).toMatchObject({ attempt: { terms: { amount: 500 } } });
    const declined = rechargeFailed(first.state, { attempt: 1, tries: 1, ref: "arc_1", code: "insufficient_funds", needsAction: false }, T0);
    // The user moves to the 1.00 package and caps auto-recharge at 3.00 a month.
    const changed = { ...declined.state, autoRecharge: configureRecharge(declined.state.autoRecharge, true, plan({ packageId: "cheap", amount: 100, monthlyLimit: 300 }), T0 + HOUR, null) };
    const retry = ok(prepareRecharge(changed, T0 + 7 * HOUR, "arc_2"));
    // Either nothing is sent, or what is sent fits the limit.
    expect(retry === null || retry.attempt.terms.amount <= 300).toBe(true);
  });
});
