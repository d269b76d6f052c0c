// Review of the payments change (3cd94d9..HEAD): each test here is an order of Stripe events, alarm
// runs or settings that once ended with money charged or credited twice or never (issue 20's payments
// review: each was a finding, reproduced here before it was fixed); the comment above each says how.
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { catchUpPayments, paymentsPassFrom, setClock } from "./cron-helpers";
import { account, api, ledger, openAccount } from "./helpers";
import { buy, deliverOutcome, fakeStripe, PACKAGE, rechargesOf, scriptCard, withPackage, type Bought, type FakePaymentIntent } from "./recharge-helpers";
import { charge, deliver, event } from "./stripe-events";

const HOUR = 3_600_000;
const T = Date.parse("2030-03-10T12:00:00Z");

/** Delivers an event Stripe created `daysLater` days from now (a refund fails days after it was made). */
const send = async (type: string, object: Record<string, unknown>, daysLater = 0) => {
  const res = await deliver(event(type, object, undefined, Math.floor(Date.now() / 1000) + daysLater * 86_400));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
};

const refundObject = (id: string, paymentIntent: string, amount: number, status: string) => ({
  id,
  object: "refund",
  amount,
  charge: `ch_${paymentIntent}`,
  payment_intent: paymentIntent,
  status,
  ...(status === "failed" ? { failure_reason: "expired_or_canceled_card" } : {}),
});

const purchaseRow = (sessionId: string) =>
  env.DB.prepare("SELECT status, amount_refunded, credits_clawed_back FROM purchases WHERE id = ?")
    .bind(sessionId)
    .first<{ status: string; amount_refunded: number; credits_clawed_back: number }>();

/** An account that bought the package once (1000 credits for 500), nothing spent. */
async function bought(id: string): Promise<Bought> {
  await openAccount(id, 0);
  const paid = await buy(id, {});
  expect((await account(id)).balance).toBe(PACKAGE.credits);
  return paid;
}

/** Runs the object's alarm at `at` (its clock stays there), as the runtime would when it comes due. */
async function alarmAt(id: string, at: number) {
  await setClock(id, at);
  await runDurableObjectAlarm(ledger(id));
}

beforeAll(withPackage);

describe("a refund after a failed refund", () => {
  // Stripe's charge.amount_refunded is the charge's refunded total NOW: a refund that fails is taken
  // out of it again (the money is back in the merchant's balance and the charge can be refunded
  // again). The facts keep the LARGEST amount_refunded ever reported and subtract every failed refund
  // from it, so a new refund issued after a failed one is cancelled out by the old failure: the buyer
  // gets the money back and keeps the credits. The contract: on charge.refunded the purchase's
  // clawed-back credits become floor(credits × amount_refunded / amount).
  it("a half refund fails, then the merchant refunds half again (days later): 500 credits are clawed back", async () => {
    const id = "rv-refund-again";
    const paid = await bought(id);
    const pi = paid.payment_intent.id;
    // re_1 (250) is created: Stripe says the charge has 250 refunded.
    await send("charge.refunded", charge(pi, PACKAGE.amount, 250));
    expect((await account(id)).balance).toBe(500);
    // re_1 fails: Stripe gives the 250 back to the charge (amount_refunded 0 again); credits come back.
    await send("charge.refund.updated", refundObject("re_rv_again_1", pi, 250, "failed"), 1);
    expect((await account(id)).balance).toBe(PACKAGE.credits);
    // re_2 (250) is created and succeeds at once (a card refund): the charge has 250 refunded again.
    await send("charge.refunded", charge(pi, PACKAGE.amount, 250), 2);
    // 250 of 500 is refunded now: half the credits must be taken back.
    expect((await account(id)).balance).toBe(500);
    expect(await purchaseRow(paid.session.id)).toMatchObject({ status: "partially_refunded", credits_clawed_back: 500 });
  });

  it("a full refund fails, then the merchant refunds in full again (days later): all 1000 credits are clawed back", async () => {
    const id = "rv-refund-again-full";
    const paid = await bought(id);
    const pi = paid.payment_intent.id;
    await send("charge.refunded", charge(pi, PACKAGE.amount, PACKAGE.amount));
    await send("charge.refund.updated", refundObject("re_rv_full_1", pi, PACKAGE.amount, "failed"), 1);
    expect((await account(id)).balance).toBe(PACKAGE.credits);
    await send("charge.refunded", charge(pi, PACKAGE.amount, PACKAGE.amount), 2);
    expect((await account(id)).balance).toBe(0);
  });
});

const enable = (id: string, body: Record<string, unknown> = {}) =>
  api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: PACKAGE.id, ...body } });
const debit = async (id: string, amount: number) => expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount } })).status).toBe(201);

/** An account with auto-recharge on (threshold 500, plus `plan`) and a card saved by a real checkout: available 1000. */
async function withSavedCard(id: string, paymentMethod: string, plan: Record<string, unknown> = {}, at = T) {
  await setClock(id, at);
  await openAccount(id, 0);
  const set = await enable(id, plan);
  expect(set.status, JSON.stringify(set.body)).toBe(200);
  const paid = await buy(id, { save: true, paymentMethod });
  expect(await account(id)).toMatchObject({ balance: PACKAGE.credits, auto_recharge: { has_payment_method: true, status: "idle" } });
  return paid;
}

describe("the monthly limit", () => {
  // The retry of a declined attempt is checked against the CURRENT plan's amount (whyNotCharge uses
  // ar.plan.amount) but sends the attempt's FIXED terms (the amount of the package at the first try).
  // A user who, while a retry waits, moves to a cheaper package with a monthly limit below the old
  // price is charged the old price: more than the limit allows in the month.
  it("a retry waiting when the plan changes to a cheaper package with a lower monthly limit is not sent at the old price", async () => {
    const id = "rv-limit-retry";
    const cheap = await api("PUT", "/v1/packages/rv-cheap", { body: { credits: 1000, price: { amount: 100, currency: "usd" } } });
    expect(cheap.status).toBe(200);
    await scriptCard("pm_rv_limit_retry", ["insufficient_funds"]);
    await withSavedCard(id, "pm_rv_limit_retry");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    expect(await rechargesOf(id)).toEqual([expect.objectContaining({ status: "requires_payment_method", amount: PACKAGE.amount })]);
    // While the retry waits, the user picks the 1.00 package and caps auto-recharge at 3.00 a month.
    const changed = await enable(id, { package_id: "rv-cheap", monthly_limit: 300 });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    await alarmAt(id, T + 6 * HOUR + 1);
    const charged = (await rechargesOf(id)).filter((pi) => pi.status === "succeeded");
    // At most 300 may be charged this month.
    expect(charged.reduce((sum, pi) => sum + pi.amount, 0)).toBeLessThanOrEqual(300);
  });

  // Pre-existing (thisMonth is unchanged by the diff), found while checking the limit: the counter of
  // money charged this month is keyed by the month IN THE ACCOUNT'S TIME ZONE and is not moved when the
  // zone changes (the spending limits are: rezoneSpend). Changing the zone across a month boundary
  // resets charged_this_month, so the same month is charged twice its limit.
  it("changing the account's time zone keeps charged_this_month: the monthly limit is not charged twice in one month", async () => {
    const id = "rv-limit-zone";
    // 1 April 03:00 UTC: still 31 March (20:00) in Los Angeles.
    const at = Date.parse("2030-04-01T03:00:00Z");
    await withSavedCard(id, "pm_rv_limit_zone", { monthly_limit: PACKAGE.amount }, at);
    await debit(id, 600);
    await alarmAt(id, at + 1);
    const [first] = await rechargesOf(id);
    expect(first).toMatchObject({ status: "succeeded", amount: PACKAGE.amount });
    await deliverOutcome(first!);
    expect((await account(id)).auto_recharge).toMatchObject({ charged_this_month: PACKAGE.amount });
    // The user moves the account to Los Angeles; nothing else changes.
    expect((await api("PUT", `/v1/accounts/${id}`, { body: { time_zone: "America/Los_Angeles" } })).status).toBe(200);
    await setClock(id, at + 2 * 60_000);
    expect((await account(id)).available).toBe(1400);
    await debit(id, 1000);
    await alarmAt(id, at + 3 * 60_000);
    // Both charges fall in April (UTC) and in March (Los Angeles): one month, twice its limit.
    const charged = (await rechargesOf(id)).filter((pi) => pi.status === "succeeded");
    expect(charged.reduce((sum, pi) => sum + pi.amount, 0)).toBeLessThanOrEqual(PACKAGE.amount);
  });
});

describe("turning auto-recharge off around a try Stripe has", () => {
  // configureRecharge keeps a try Stripe already has when auto-recharge is turned off ("it still ends
  // as Stripe says"). But when Stripe then says it FAILED, rechargeFailed schedules a new try (a new
  // PaymentIntent) without looking at `enabled`; turning auto-recharge on again before that retry's
  // time (the account is still below the threshold, as it has been since the crossing) lets the retry
  // go. So turning it off does not end the crossing, and turning it on while below the threshold
  // charges the card with no new crossing, which the contract says it never does.
  it("off while a try is processing, the try fails, on again: no new charge without a new crossing", async () => {
    const id = "rv-off-processing";
    await scriptCard("pm_rv_off_processing", ["processing"]);
    await withSavedCard(id, "pm_rv_off_processing");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    const [pi] = await rechargesOf(id);
    expect(pi).toMatchObject({ status: "processing" });
    // The user turns auto-recharge off while Stripe still has the try.
    expect((await enable(id, { enabled: false })).status).toBe(200);
    // Stripe declines it later.
    const failed = await fakeStripe<FakePaymentIntent>(`/__fail/${pi!.id}`, { method: "POST", body: JSON.stringify({ code: "insufficient_funds" }) });
    await deliverOutcome(failed);
    // An hour later the user turns it back on; available is still 400, below the threshold, and nothing is spent.
    await setClock(id, T + HOUR);
    const on = await enable(id);
    expect(on.body.auto_recharge).toMatchObject({ enabled: true });
    expect(on.body.available).toBe(400);
    await alarmAt(id, T + 7 * HOUR);
    await alarmAt(id, T + 31 * HOUR);
    // Only the try Stripe had when it was turned off may exist: no new PaymentIntent without a new crossing.
    expect(await rechargesOf(id)).toHaveLength(1);
  });
});

describe("an auto-recharge charge this deployment never sent", () => {
  // sentHere() accepts any success WITHOUT metadata.charge_ref whose attempt number is at most the
  // account's attempt count (the fallback for charges sent before references existed). On a Stripe
  // account shared with another deployment (the case the contract's "credits only if this deployment
  // created it" guards against), that deployment's auto-recharge of the same account id, if it runs the
  // code from before references, credits here too: one charge, credited in both deployments.
  it("a signed auto-recharge success without charge_ref, for a PaymentIntent no try here made, credits nothing", async () => {
    const id = "rv-foreign-recharge";
    await withSavedCard(id, "pm_rv_foreign");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    const [own] = await rechargesOf(id);
    await deliverOutcome(own!);
    expect((await account(id)).balance).toBe(400 + PACKAGE.credits);
    // Another deployment's charge for its own account "rv-foreign-recharge" (attempt 1), made at Stripe.
    const foreign = {
      id: "pi_rv_other_deployment_1",
      object: "payment_intent",
      amount: PACKAGE.amount,
      amount_received: PACKAGE.amount,
      currency: "usd",
      customer: "cus_other_deployment",
      payment_method: "pm_other_deployment",
      status: "succeeded",
      created: Math.floor(T / 1000),
      metadata: { kind: "auto_recharge", account_id: id, package_id: PACKAGE.id, credits: String(PACKAGE.credits), attempt: "1", try: "1" },
    };
    const res = await send("payment_intent.succeeded", foreign);
    expect(res.body.outcome).toMatch(/^unapplied/);
    expect((await account(id)).balance).toBe(400 + PACKAGE.credits);
  });
});

describe("the charged ⇒ credited pass and refund failures", () => {
  // The webhook applies refund.failed and refund.updated (apply-event.ts), and Stripe documents
  // charge.refund.updated as sent only "on selected payment methods" (refund.updated / refund.failed
  // for all refunds). The pass lists only charge.refund.updated (recover.ts RECOVERED_TYPES), so a
  // refund.failed whose webhook was lost is never applied: the buyer's credits stay clawed back for a
  // refund that never happened.
  it("a refund.failed whose webhook was lost is applied by the hourly pass (credits given back)", async () => {
    const id = "rv-refund-failed-lost";
    await paymentsPassFrom();
    const paid = await bought(id);
    const pi = paid.payment_intent.id;
    await send("charge.refunded", charge(pi, PACKAGE.amount, 250));
    expect((await account(id)).balance).toBe(500);
    // Stripe writes refund.failed to its log; the webhook never arrives.
    await fakeStripe("/__events", { method: "POST", body: JSON.stringify({ type: "refund.failed", object: refundObject("re_rv_lost_failed", pi, 250, "failed") }) });
    await catchUpPayments();
    expect((await account(id)).balance).toBe(PACKAGE.credits);
  });
});

describe("a refund measured against the charge's own amount", () => {
  // The contract: charge.refunded (`amount`, `amount_refunded`) claws back floor(credits ×
  // amount_refunded / amount), the charge's own figures, as 3cd94d9 did (clawbackTarget(credits,
  // charge.amount, amount_refunded)). The change stores the charge's `amount` in pending_refunds but
  // never reads it: claimTarget divides by the purchase row's amount (what the session was sold for).
  // When the charge is not in the units the package was sold in (a Checkout with Adaptive Pricing
  // charges the buyer's local currency; the session keeps the integration currency), a FULL refund of
  // the charge leaves credits with the buyer (or a half refund takes nearly all).
  it("a full refund of a charge of 460 (the buyer's currency) for a 500 session takes all 1000 credits back", async () => {
    const id = "rv-refund-charge-amount";
    const paid = await bought(id);
    await send("charge.refunded", { ...charge(paid.payment_intent.id, 460, 460), currency: "eur" });
    expect((await account(id)).balance).toBe(0);
  });
});
