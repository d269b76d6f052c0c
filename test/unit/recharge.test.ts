// Auto-recharge's pure rules: a charge is raised only by a crossing (spending or expiry), decided again
// before it is sent, capped per month; the tries and their outcomes; the saved card.
import { describe, expect, it } from "vitest";
import * as recharge from "../../durable-objects/ledger/recharge";
import * as payments from "../../durable-objects/ledger/purchases";
import { dueWork } from "../../durable-objects/ledger/expiry";
import * as rules from "../../durable-objects/ledger/rules";
import type { LedgerState } from "../../durable-objects/ledger/types";
import { charge, DAY, HOUR, ledger, lot, ok, T0 } from "./fixtures";

const CARD: recharge.SavedCard = { customer: "cus_1", paymentMethod: "pm_1", savedAt: 1 };
const PLAN: recharge.RechargePlan = { threshold: 100, packageId: "starter", credits: 1000, amount: 500, currency: "usd", monthlyLimit: 1200 };

function withRecharge(balance: number, plan = PLAN, now = T0, lots = [lot({ id: "a", amount: balance })]): LedgerState {
  return { ...ledger({ lots }, now), autoRecharge: recharge.configureRecharge(null, true, plan, now, null, CARD) };
}

const debit = (state: LedgerState, amount: number, now: number): LedgerState => {
  const step = rules.debit(state, charge(amount), now);
  ok(step);
  return step.state;
};

/** What the alarm does before calling Stripe: the try to send now, if any, and the state it leaves. */
function prepare(state: LedgerState, now: number, ref = "ref_1") {
  const step = recharge.prepareRecharge(state, now, ref);
  return { send: ok(step), state: step.state };
}

describe("a crossing raises one charge", () => {
  it("when a debit takes available from at or above the threshold to below it, and no second one while it is in flight", () => {
    let state = withRecharge(300);
    state = debit(state, 200, T0);
    expect(state.autoRecharge).toMatchObject({ status: "idle", inFlight: null });
    state = debit(state, 1, T0 + 1);
    expect(state.autoRecharge).toMatchObject({ status: "in_flight", attempts: 1, inFlight: { number: 1, tries: 1, nextTryAt: T0 + 1 } });
    for (let i = 0; i < 90; i++) state = debit(state, 1, T0 + 2 + i);
    expect(state.autoRecharge).toMatchObject({ attempts: 1, inFlight: { number: 1 } });
  });

  it("debits already below the threshold are no crossing: nothing is raised", () => {
    let state = withRecharge(50);
    for (let i = 0; i < 10; i++) state = debit(state, 1, T0 + i);
    expect(state.autoRecharge).toMatchObject({ status: "idle", attempts: 0 });
  });

  it("a hold that takes available below the threshold raises it too (the balance itself is unchanged)", () => {
    const state = withRecharge(150);
    const hold = (amount: number, id: string) => ({ holdId: id, amount, ttlMs: 60_000, operation: null, quantities: null, metadata: null, description: null });
    expect(rules.placeHold(state, hold(100, "h1"), T0).state.autoRecharge).toMatchObject({ status: "in_flight", inFlight: { number: 1 } });
    expect(rules.placeHold(state, hold(50, "h2"), T0).state.autoRecharge).toMatchObject({ status: "idle", inFlight: null });
  });

  it("an expiry that takes available below the threshold raises it, dated when the alarm settles it", () => {
    const lots = [lot({ id: "soon", amount: 500, expiresAt: T0 + HOUR }), lot({ id: "stays", amount: 50 })];
    const state = withRecharge(0, PLAN, T0, lots);
    const settled = rules.settle(state, T0 + HOUR + 5);
    expect(settled.entries.map((e) => e.kind)).toEqual(["expire"]);
    expect(settled.state.autoRecharge).toMatchObject({ status: "in_flight", inFlight: { number: 1, nextTryAt: T0 + HOUR + 5 } });
  });

  it("a clawback, a block, a card being saved or auto-recharge being set never raise one", () => {
    // Set while already below: nothing until spending crosses from above.
    const below = rules.setAutoRecharge(ledger({ lots: [lot({ id: "a", amount: 50 })] }), { enabled: true, plan: PLAN, card: CARD }, T0).state;
    expect(below.autoRecharge).toMatchObject({ status: "idle", attempts: 0 });
    // A card saved while below: nothing either.
    const noCard = { ...ledger({ lots: [lot({ id: "a", amount: 150 })] }), autoRecharge: recharge.configureRecharge(null, true, PLAN, T0, null) };
    const crossedWithoutCard = debit(noCard, 60, T0);
    expect(crossedWithoutCard.autoRecharge).toMatchObject({ status: "idle", attempts: 0 });
    const saved = rules.saveCard(crossedWithoutCard, CARD, T0 + 1);
    expect(saved.state.autoRecharge).toMatchObject({ card: CARD, status: "idle", attempts: 0 });
    // A block: debits are refused, and nothing is raised.
    const blocked = payments.setAdminBlock(withRecharge(150), { blocked: true, reason: "review" }, T0).state;
    expect(rules.debit(blocked, charge(60), T0).state.autoRecharge).toMatchObject({ attempts: 0 });
  });

  it("the monthly limit holds a crossing back until the next month starts; the alarm then sends it if it may still go", () => {
    let state = withRecharge(300, { ...PLAN, monthlyLimit: 900 });
    state = { ...state, autoRecharge: { ...state.autoRecharge!, chargedThisMonth: 500 } };
    state = debit(state, 250, T0);
    const december = Date.parse("2026-12-01T00:00:00Z");
    expect(state.autoRecharge).toMatchObject({ status: "idle", inFlight: null, heldBack: "monthly_limit_reached", heldBackUntil: december });
    expect(dueWork(state).dueAt).toBe(december);
    expect(prepare(state, december - 1).send).toBeNull();
    const sent = prepare(state, december);
    expect(sent.send).toMatchObject({ attempt: { number: 1, tries: 1, terms: { ref: "ref_1", amount: 500, credits: 1000 } }, card: CARD });
    expect(sent.state.autoRecharge).toMatchObject({ status: "in_flight", heldBack: null, chargedThisMonth: 0 });
  });

  it("a held-back crossing the user has since bought out of ends at the month's start: nothing sent, and the alarm stops waking", () => {
    let state = withRecharge(300, { ...PLAN, monthlyLimit: 900 });
    state = { ...state, autoRecharge: { ...state.autoRecharge!, chargedThisMonth: 500 } };
    state = debit(state, 250, T0);
    state = ok2(rules.grant(state, { lotId: "topup", amount: 1000, source: "grant", expiresAt: null, priority: 0, reference: null, description: null, metadata: null }, T0 + 1));
    const december = Date.parse("2026-12-01T00:00:00Z");
    const after = prepare(state, december);
    expect(after.send).toBeNull();
    expect(after.state.autoRecharge).toMatchObject({ status: "idle", heldBack: null, heldBackUntil: null });
    expect(dueWork(after.state).nextRechargeAt).toBeNull();
  });
});

describe("before each send, the charge is decided again", () => {
  const crossed = () => debit(withRecharge(150), 60, T0);

  it("sends the due try with the terms it will keep for every retry, and names its Stripe key once", () => {
    const { send, state } = prepare(crossed(), T0);
    // Named by the attempt's own random reference: no other deployment can reuse the key.
    expect(recharge.rechargeKey("acct", send!.attempt)).toBe("auto_recharge:ref_1:1");
    expect(recharge.rechargeKey("acct", { number: 3, tries: 2, nextTryAt: 0, since: 0 })).toBe("auto_recharge:acct:3:2");
    const sent = recharge.rechargeSent(state, 1, 1);
    expect(prepare(sent, T0 + DAY).send).toBeNull();
    expect(dueWork(sent).nextRechargeAt).toBeNull();
  });

  it.each([
    ["auto-recharge turned off", (s: LedgerState) => rules.setAutoRecharge(s, { enabled: false, plan: PLAN }, T0 + 1).state],
    ["the account blocked", (s: LedgerState) => payments.setAdminBlock(s, { blocked: true, reason: "review" }, T0 + 1).state],
    [
      "credits bought above the threshold",
      (s: LedgerState) => ok2(rules.grant(s, { lotId: "g", amount: 500, source: "grant", expiresAt: null, priority: 0, reference: null, description: null, metadata: null }, T0 + 1)),
    ],
  ])("sends nothing when, since the crossing: %s", (_why, change) => {
    const after = prepare(change(crossed()), T0 + 2);
    expect(after.send).toBeNull();
    expect(after.state.autoRecharge).toMatchObject({ inFlight: null, status: "idle" });
  });

  it("a declined try's retry is decided again too: bought out of in the meantime, it is never sent", () => {
    let state = recharge.rechargeSent(prepare(crossed(), T0).state, 1, 1);
    state = payments.rechargeFailed(state, { attempt: 1, tries: 1, ref: "ref_1", code: "insufficient_funds", needsAction: false }, T0 + 1).state;
    expect(state.autoRecharge).toMatchObject({ inFlight: { tries: 2, nextTryAt: T0 + 1 + 6 * HOUR } });
    state = ok2(rules.grant(state, { lotId: "g", amount: 500, source: "grant", expiresAt: null, priority: 0, reference: null, description: null, metadata: null }, T0 + 2));
    expect(prepare(state, T0 + 1 + 6 * HOUR).send).toBeNull();
  });

  it("turning auto-recharge off cancels a waiting retry; a try Stripe already has is left to finish", () => {
    let state = recharge.rechargeSent(prepare(crossed(), T0).state, 1, 1);
    expect(rules.setAutoRecharge(state, { enabled: false, plan: PLAN }, T0 + 1).state.autoRecharge).toMatchObject({ inFlight: { number: 1, nextTryAt: null } });
    state = payments.rechargeFailed(state, { attempt: 1, tries: 1, ref: "ref_1", code: "insufficient_funds", needsAction: false }, T0 + 1).state;
    expect(rules.setAutoRecharge(state, { enabled: false, plan: PLAN }, T0 + 2).state.autoRecharge).toMatchObject({ inFlight: null, status: "idle" });
  });

  it("Stripe out of reach: the same try again after 30 s, doubling to an hour", () => {
    const state = prepare(crossed(), T0).state;
    let s = recharge.rechargeUnreachable(state, 1, 1, T0);
    expect(s.autoRecharge?.inFlight).toMatchObject({ tries: 1, nextTryAt: T0 + 30_000 });
    s = recharge.rechargeUnreachable(s, 1, 1, T0 + 30_000);
    expect(s.autoRecharge?.inFlight).toMatchObject({ tries: 1, nextTryAt: T0 + 90_000 });
    for (let i = 0; i < 20; i++) s = recharge.rechargeUnreachable(s, 1, 1, T0);
    expect(s.autoRecharge?.inFlight?.nextTryAt).toBe(T0 + HOUR);
  });
});

describe("the outcome", () => {
  const sentOnce = () => recharge.rechargeSent(prepare(debit(withRecharge(150), 60, T0), T0).state, 1, 1);
  const success = (over: Partial<payments.RechargeSuccess> = {}): payments.RechargeSuccess => ({
    attempt: 1,
    ref: "ref_1",
    lotId: "lot_ar1",
    credits: 1000,
    amount: 500,
    currency: "usd",
    expiresAt: null,
    paymentIntent: "pi_1",
    ...over,
  });

  it("a success credits the package once as an auto_recharge lot, counts the money, and goes back to idle", () => {
    const step = payments.rechargeSucceeded(sentOnce(), success(), T0 + HOUR);
    expect(ok(step).balance).toBe(1090);
    expect(step.entries.map((e) => [e.kind, e.amount, e.lotId])).toEqual([["grant", 1000, "lot_ar1"]]);
    expect(step.lots).toEqual([expect.objectContaining({ id: "lot_ar1", source: "auto_recharge", reference: "pi_1" })]);
    expect(step.events.map((e) => e.type)).toEqual(["auto_recharge.succeeded"]);
    expect(step.state.autoRecharge).toMatchObject({ status: "idle", inFlight: null, chargedThisMonth: 500, sent: [expect.objectContaining({ ref: "ref_1", credited: true })] });
  });

  it("credits what the account recorded when it sent the charge, never what the PaymentIntent's metadata claims", () => {
    expect(ok(payments.rechargeSucceeded(sentOnce(), success({ credits: 1_000_000 }), T0)).credits).toBe(1000);
  });

  it.each([
    ["another deployment's reference", { ref: "ref_other" }],
    ["no reference, for an attempt sent with one", { ref: null }],
    ["no reference, for an attempt never made", { attempt: 7, ref: null }],
    ["another amount", { amount: 50 }],
    ["another currency", { currency: "jpy" }],
  ] as const)("a success this account never sent credits nothing: %s", (_why, over) => {
    expect(payments.rechargeSucceeded(sentOnce(), success(over), T0).outcome).toMatchObject({ ok: false, error: { type: "unknown_charge" } });
  });

  it("a second PaymentIntent for a charge already credited credits nothing", () => {
    const once = payments.rechargeSucceeded(sentOnce(), success(), T0).state;
    expect(payments.rechargeSucceeded(once, success({ paymentIntent: "pi_again", lotId: "again" }), T0 + 1).outcome).toMatchObject({ ok: false, error: { type: "unknown_charge" } });
  });

  it("a declined charge is tried again after 6 h and 24 h, then disabled with the reason", () => {
    let state = sentOnce();
    const first = payments.rechargeFailed(state, { attempt: 1, tries: 1, ref: "ref_1", code: "insufficient_funds", needsAction: false }, T0 + 1);
    expect(ok(first)).toEqual({ disabled: false, retryAt: T0 + 1 + 6 * HOUR });
    state = recharge.rechargeSent(first.state, 1, 2);
    const second = payments.rechargeFailed(state, { attempt: 1, tries: 2, ref: "ref_1", code: "insufficient_funds", needsAction: false }, T0 + 2);
    expect(ok(second).retryAt).toBe(T0 + 2 + 24 * HOUR);
    state = recharge.rechargeSent(second.state, 1, 3);
    const third = payments.rechargeFailed(state, { attempt: 1, tries: 3, ref: "ref_1", code: "insufficient_funds", needsAction: false }, T0 + 3);
    expect(ok(third)).toEqual({ disabled: true, retryAt: null });
    expect(third.state.autoRecharge).toMatchObject({ status: "disabled", disabledReason: "declined: insufficient_funds", inFlight: null });
    expect(third.events.map((e) => e.type)).toEqual(["auto_recharge.failed", "auto_recharge.disabled"]);
    const again = recharge.configureRecharge(third.state.autoRecharge, true, PLAN, T0 + 5, null);
    expect(again).toMatchObject({ status: "idle", disabledReason: null });
  });

  it("a card that needs its holder, or that Stripe no longer has, disables at once; a stale failure changes nothing", () => {
    const state = sentOnce();
    expect(payments.rechargeFailed(state, { attempt: 1, tries: 2, ref: "ref_1", code: "card_declined", needsAction: false }, T0).state).toBe(state);
    const step = payments.rechargeFailed(state, { attempt: 1, tries: 1, ref: "ref_1", code: "authentication_required", needsAction: true }, T0 + 1);
    expect(step.state.autoRecharge).toMatchObject({ status: "disabled", disabledReason: "authentication_required" });
    const gone = payments.rechargeFailed(state, { attempt: 1, tries: 1, ref: "ref_1", code: "resource_missing", needsAction: false, permanent: true }, T0 + 1);
    expect(gone.state.autoRecharge).toMatchObject({ status: "disabled", disabledReason: "card_unusable: resource_missing" });
  });

  it("a late success of an earlier attempt still credits, without ending the attempt now in flight", () => {
    // Attempt 1 went to Stripe, but the answer was lost on the way back: the same try waits to go again.
    let state = recharge.rechargeUnreachable(prepare(debit(withRecharge(150), 60, T0), T0).state, 1, 1, T0);
    // The user buys credits meanwhile: the retry is not sent, and attempt 1 ends here.
    state = ok2(rules.grant(state, { lotId: "g", amount: 500, source: "grant", expiresAt: null, priority: 0, reference: null, description: null, metadata: null }, T0 + 1));
    state = prepare(state, T0 + 31_000).state;
    expect(state.autoRecharge).toMatchObject({ inFlight: null, status: "idle" });
    // A later crossing starts attempt 2.
    state = debit(state, 500, T0 + 2 * HOUR);
    state = prepare(state, T0 + 2 * HOUR, "ref_2").state;
    expect(state.autoRecharge).toMatchObject({ inFlight: { number: 2, terms: { ref: "ref_2" } } });
    // Stripe did charge attempt 1: charged ⇒ credited, and attempt 2 stays in flight.
    const late = payments.rechargeSucceeded(state, success({ lotId: "l1", paymentIntent: "pi_1" }), T0 + 3 * HOUR);
    expect(late.lots.map((l) => l.id)).toEqual(["l1"]);
    expect(late.state.autoRecharge).toMatchObject({ inFlight: { number: 2 }, status: "in_flight", chargedThisMonth: 500 });
  });
});

function ok2(step: { state: LedgerState; outcome: { ok: boolean } }): LedgerState {
  expect(step.outcome.ok).toBe(true);
  return step.state;
}

describe("the saved card", () => {
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
