// The charged ⇒ credited pass reaches every payment however many there are (it walks Stripe's log
// oldest first from a saved cursor, a budget's worth per pass), and repairs lost refunds and dispute
// closings as well as lost payments.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { catchUpPayments, paymentsPassFrom, RECONCILE_CRON, runCron } from "./cron-helpers";
import { account, eventually, openAccount } from "./helpers";
import { buy, fakeStripe, PACKAGE, withPackage, type Bought } from "./recharge-helpers";
import { charge, deliver, dispute, event } from "./stripe-events";

const hourlyPass = (overrides: Record<string, string> = {}) =>
  runCron(Date.now(), RECONCILE_CRON, { PAYMENT_RECOVERY_GRACE_SECONDS: "0", ...overrides });

/** Writes an event into the fake Stripe's log without delivering it: its webhook was lost. */
const logged = (type: string, object: Record<string, unknown>) => fakeStripe(`/__events`, { method: "POST", body: JSON.stringify({ type, object }) });

/**
 * Waits (polling the clock, with a deadline) until the second that is now is over: the pass pages
 * through a second of Stripe's log only once no event can still be written into it.
 */
async function secondOver(): Promise<void> {
  const second = Math.floor(Date.now() / 1000);
  await eventually(async () => Math.floor(Date.now() / 1000), (now) => now > second + 1, 5_000);
}

/** A paid checkout session made straight at "Stripe" (not by this deployment), to fill the log. */
async function foreignPaidSession(n: number) {
  const form = new URLSearchParams({ mode: "payment", "line_items[0][quantity]": "1", "line_items[0][price_data][unit_amount]": "100", "line_items[0][price_data][currency]": "usd", "metadata[filler]": String(n) });
  const made = await fakeStripe<{ id: string }>("/v1/checkout/sessions", { method: "POST", body: form, headers: { "content-type": "application/x-www-form-urlencoded" } });
  await fakeStripe(`/__pay/${made.id}`, { method: "POST", body: "{}" });
}

beforeAll(withPackage);
beforeEach(() => paymentsPassFrom());

describe("the charged ⇒ credited pass", () => {
  it("reaches the oldest lost payments even when newer ones fill each pass's budget", async () => {
    const ids = ["rl-old-1", "rl-old-2", "rl-old-3"];
    for (const id of ids) {
      await openAccount(id, 0);
      await buy(id, { deliver: [] });
    }
    // More than a pass's budget of newer paid sessions, all after the lost ones.
    await Promise.all(Array.from({ length: 110 }, (_, n) => foreignPaidSession(n)));
    await secondOver();
    for (let pass = 0; pass < 5; pass++) await hourlyPass({ PAYMENT_RECOVERY_MAX_OBJECTS: "100" });
    for (const id of ids) expect((await account(id)).balance, id).toBe(PACKAGE.credits);
  });

  it("repairs a refund whose charge.refunded webhook was lost", async () => {
    const id = "rl-refund";
    await openAccount(id, 0);
    const paid: Bought = await buy(id, {});
    await logged("charge.refunded", charge(paid.payment_intent.id, PACKAGE.amount, PACKAGE.amount));
    await catchUpPayments();
    expect((await account(id)).balance).toBe(0);
  });

  it("repairs a dispute whose closing webhook was lost (the account is not left blocked for good)", async () => {
    const id = "rl-dispute";
    await openAccount(id, 0);
    const paid: Bought = await buy(id, {});
    expect((await deliver(event("charge.dispute.created", dispute("dp_rl_dispute", paid.payment_intent.id, PACKAGE.amount)))).status).toBe(200);
    expect((await account(id)).blocked).not.toBeNull();
    await logged("charge.dispute.closed", dispute("dp_rl_dispute", paid.payment_intent.id, PACKAGE.amount, "won"));
    await catchUpPayments();
    expect(await account(id)).toMatchObject({ blocked: null, balance: PACKAGE.credits });
  });
});
