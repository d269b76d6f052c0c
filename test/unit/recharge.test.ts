// Auto-recharge's pure rules: the trigger, the monthly cap, the tries and their outcomes, the saved card.
import { describe, expect, it } from "vitest";
import { Draft } from "../../durable-objects/ledger/draft";
import * as recharge from "../../durable-objects/ledger/recharge";
import * as payments from "../../durable-objects/ledger/purchases";
import { dueWork } from "../../durable-objects/ledger/expiry";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState } from "../../durable-objects/ledger/types";
import { charge, DAY, HOUR, ledger, lot, ok, T0 } from "./fixtures";

const CARD: recharge.SavedCard = { customer: "cus_1", paymentMethod: "pm_1", savedAt: 1 };
const PLAN: recharge.RechargePlan = { threshold: 100, packageId: "starter", credits: 1000, amount: 500, currency: "usd", monthlyLimit: 1200 };

function withRecharge(balance: number, plan = PLAN, now = T0): LedgerState {
  return { ...ledger({ lots: [lot({ id: "a", amount: balance })] }, now), autoRecharge: recharge.configureRecharge(null, true, plan, now, null, CARD) };
}

/** A debit, then the recharge check as the object will run it in the same transaction. */
function debitAndCheck(state: LedgerState, amount: number, now: number): LedgerState {
  const step = rules.debit(state, charge(amount), now);
  ok(step);
  const draft = new Draft(step.state, now);
  recharge.checkRecharge(draft);
  return draft.state;
}

describe("the recharge trigger", () => {
  it("marks one charge due when a debit takes available below the threshold, and no second one while it is in flight", () => {
    let state = withRecharge(300);
    state = debitAndCheck(state, 150, T0);
    expect(state.autoRecharge).toMatchObject({ status: "idle", inFlight: null });
    state = debitAndCheck(state, 60, T0 + 1);
    expect(state.autoRecharge).toMatchObject({ status: "in_flight", attempts: 1, inFlight: { number: 1, tries: 1, nextTryAt: T0 + 1 } });
    for (let i = 0; i < 90; i++) state = debitAndCheck(state, 1, T0 + 2 + i);
    expect(state.autoRecharge).toMatchObject({ attempts: 1, inFlight: { number: 1 } });
  });

  it("a hold that takes available below the threshold marks the charge too (the balance itself is unchanged)", () => {
    const state = withRecharge(150);
    const held = rules.placeHold(state, { holdId: "h1", amount: 100, ttlMs: 60_000, operation: null, quantities: null, metadata: null, description: null }, T0);
    expect(held.outcome.ok).toBe(true);
    expect(held.state.autoRecharge).toMatchObject({ status: "in_flight", inFlight: { number: 1 } });
    const small = rules.placeHold(state, { holdId: "h2", amount: 50, ttlMs: 60_000, operation: null, quantities: null, metadata: null, description: null }, T0);
    expect(small.state.autoRecharge).toMatchObject({ status: "idle", inFlight: null });
  });

  it("charges nothing past the monthly limit and says why; a new month re-arms", () => {
    const plan = { ...PLAN, monthlyLimit: 900 };
    let state = withRecharge(300, plan);
    state = { ...state, autoRecharge: { ...state.autoRecharge!, chargedThisMonth: 500 } };
    state = debitAndCheck(state, 250, T0);
    expect(state.autoRecharge).toMatchObject({ status: "idle", inFlight: null, heldBack: "monthly_limit_reached" });
    // 1 December: the month's charges start again from zero.
    state = debitAndCheck(state, 1, Date.parse("2026-12-01T00:00:00Z"));
    expect(state.autoRecharge).toMatchObject({ status: "in_flight", chargedThisMonth: 0, heldBack: null, monthKey: "2026-12" });
  });

  it("a charge held back by the monthly limit goes at the month's start without waiting for a debit", () => {
    let state = withRecharge(300, { ...PLAN, monthlyLimit: 900 });
    state = { ...state, autoRecharge: { ...state.autoRecharge!, chargedThisMonth: 500 } };
    state = debitAndCheck(state, 250, T0);
    const december = Date.parse("2026-12-01T00:00:00Z");
    // The object's alarm (and the sweep's index) wake at the month's start.
    expect(dueWork(state).dueAt).toBe(december);
    expect(rules.settle(state, december - 1).state.autoRecharge).toMatchObject({ status: "idle", heldBack: "monthly_limit_reached" });
    expect(rules.settle(state, december).state.autoRecharge).toMatchObject({ status: "in_flight", inFlight: { number: 1, nextTryAt: december } });
  });

  it("names each try's Stripe idempotency key once, and the alarm sends a try only until Stripe has it", () => {
    const state = debitAndCheck(withRecharge(150), 60, T0);
    const due = recharge.rechargeDue(state.autoRecharge, T0)!;
    expect(recharge.rechargeKey("acct", due)).toBe("auto_recharge:acct:1:1");
    const sent = recharge.rechargeSent(state, 1, 1);
    expect(recharge.rechargeDue(sent.autoRecharge, T0 + DAY)).toBeNull();
  });
});

describe("the outcome", () => {
  it("a success credits the package once as an auto_recharge lot, counts the money, and goes back to idle", () => {
    const state = recharge.rechargeSent(debitAndCheck(withRecharge(150), 60, T0), 1, 1);
    const step = payments.rechargeSucceeded(state, { attempt: 1, lotId: "lot_ar1", credits: 1000, amount: 500, expiresAt: null, paymentIntent: "pi_1" }, T0 + HOUR);
    expect(ok(step).balance).toBe(1090);
    expect(step.entries.map((e) => [e.kind, e.amount, e.lotId])).toEqual([["grant", 1000, "lot_ar1"]]);
    expect(step.lots).toEqual([expect.objectContaining({ id: "lot_ar1", source: "auto_recharge", reference: "pi_1" })]);
    expect(step.events.map((e) => e.type)).toEqual(["auto_recharge.succeeded"]);
    expect(step.state.autoRecharge).toMatchObject({ status: "idle", inFlight: null, chargedThisMonth: 500 });
  });

  it("a declined charge is tried again after 6 h and 24 h, then disabled with the reason", () => {
    let state = recharge.rechargeSent(debitAndCheck(withRecharge(150), 60, T0), 1, 1);
    const first = payments.rechargeFailed(state, { attempt: 1, tries: 1, code: "insufficient_funds", needsAction: false }, T0 + 1);
    expect(ok(first)).toEqual({ disabled: false, retryAt: T0 + 1 + 6 * HOUR });
    state = recharge.rechargeSent(first.state, 1, 2);
    const second = payments.rechargeFailed(state, { attempt: 1, tries: 2, code: "insufficient_funds", needsAction: false }, T0 + 2);
    expect(ok(second).retryAt).toBe(T0 + 2 + 24 * HOUR);
    state = recharge.rechargeSent(second.state, 1, 3);
    const third = payments.rechargeFailed(state, { attempt: 1, tries: 3, code: "insufficient_funds", needsAction: false }, T0 + 3);
    expect(ok(third)).toEqual({ disabled: true, retryAt: null });
    expect(third.state.autoRecharge).toMatchObject({ status: "disabled", disabledReason: "declined: insufficient_funds", inFlight: null });
    expect(third.events.map((e) => e.type)).toEqual(["auto_recharge.failed", "auto_recharge.disabled"]);
    // Disabled: further debits charge nothing until the user turns it on again.
    expect(debitAndCheck(third.state, 1, T0 + 4).autoRecharge).toMatchObject({ status: "disabled", attempts: 1 });
    const again = recharge.configureRecharge(third.state.autoRecharge, true, PLAN, T0 + 5, null);
    expect(again).toMatchObject({ status: "idle", disabledReason: null });
  });

  it("a card that needs its holder disables at once; a stale failure changes nothing", () => {
    const state = recharge.rechargeSent(debitAndCheck(withRecharge(150), 60, T0), 1, 1);
    expect(payments.rechargeFailed(state, { attempt: 1, tries: 2, code: "card_declined", needsAction: false }, T0).state).toBe(state);
    const step = payments.rechargeFailed(state, { attempt: 1, tries: 1, code: "authentication_required", needsAction: true }, T0 + 1);
    expect(step.state.autoRecharge).toMatchObject({ status: "disabled", disabledReason: "authentication_required" });
  });

  it("a late success of an earlier attempt still credits, without ending the attempt now in flight", () => {
    let state = recharge.rechargeSent(debitAndCheck(withRecharge(150), 60, T0), 1, 1);
    state = ok2(payments.rechargeSucceeded(state, { attempt: 1, lotId: "l1", credits: 50, amount: 500, expiresAt: null, paymentIntent: "pi_1" }, T0 + 1));
    // Still below the threshold: the next debit starts attempt 2.
    state = debitAndCheck(state, 50, T0 + 2);
    expect(state.autoRecharge).toMatchObject({ inFlight: { number: 2 } });
    const late = payments.rechargeSucceeded(state, { attempt: 1, lotId: "l1b", credits: 50, amount: 500, expiresAt: null, paymentIntent: "pi_1b" }, T0 + 3);
    expect(late.lots.map((l) => l.id)).toEqual(["l1b"]);
    expect(late.state.autoRecharge).toMatchObject({ inFlight: { number: 2 }, status: "in_flight", chargedThisMonth: 1000 });
  });
});

function ok2(step: { state: LedgerState; outcome: { ok: boolean } }): LedgerState {
  expect(step.outcome.ok).toBe(true);
  return step.state;
}

describe("without a saved card", () => {
  it("charges nothing, and starts once a card is saved (or at once if already below the threshold)", () => {
    const noCard = { ...ledger({ lots: [lot({ id: "a", amount: 150 })] }), autoRecharge: recharge.configureRecharge(null, true, PLAN, T0, null) };
    expect(debitAndCheck(noCard, 60, T0).autoRecharge).toMatchObject({ status: "idle", inFlight: null });
    const below = debitAndCheck(noCard, 60, T0);
    const saved = rules.setAutoRecharge(below, { enabled: true, plan: PLAN, card: CARD }, T0 + 1);
    expect(saved.state.autoRecharge).toMatchObject({ status: "in_flight", inFlight: { number: 1 } });
  });

  it("a card saved by a checkout is taken, and starts the charge that was waiting for it", () => {
    const noCard = { ...ledger({ lots: [lot({ id: "a", amount: 150 })] }), autoRecharge: recharge.configureRecharge(null, true, PLAN, T0, null) };
    const below = debitAndCheck(noCard, 60, T0);
    const step = rules.saveCard(below, CARD, T0 + 1);
    expect(step.outcome).toMatchObject({ ok: true, value: { saved: true } });
    expect(step.state.autoRecharge).toMatchObject({ card: CARD, status: "in_flight", inFlight: { number: 1 } });
  });

  it("keeps the card saved last, whatever order the saves arrive in; without auto-recharge nothing is kept", () => {
    const later: recharge.SavedCard = { customer: "cus_1", paymentMethod: "pm_2", savedAt: 2 };
    const withLater = rules.saveCard(withRecharge(1000), later, T0).state;
    const stale = rules.saveCard(withLater, CARD, T0 + 1);
    expect(stale.outcome).toMatchObject({ value: { saved: false } });
    expect(stale.state.autoRecharge?.card).toEqual(later);
    // Setting auto-recharge again with the older card from D1 does not bring it back either.
    expect(rules.setAutoRecharge(withLater, { enabled: true, plan: PLAN, card: CARD }, T0 + 2).state.autoRecharge?.card).toEqual(later);
    const none = ledger({ lots: [lot({ id: "a", amount: 10 })] });
    expect(rules.saveCard(none, later, T0).outcome).toMatchObject({ value: { saved: false } });
  });
});
