// Auto-recharge's limits, with the object's clock moved by hand: the monthly cap (and the month that
// lifts it), and a card that keeps failing (declined twice, then needing its holder) until the user
// turns auto-recharge on again.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { eventRows, setClock } from "./cron-helpers";
import { account, api, flush, ledger, openAccount } from "./helpers";
import { deliverOutcome, PACKAGE, paymentIntentsOf, saveCard, scriptCard, withPackage } from "./recharge-helpers";

const HOUR = 3_600_000;
const T = Date.parse("2030-03-10T12:00:00Z");

const debit = async (id: string, amount: number) => expect((await api("POST", `/v1/accounts/${id}/debits`, { body: { amount } })).status).toBe(201);

async function enabled(id: string, paymentMethod: string, monthlyLimit?: number) {
  await setClock(id, T);
  await openAccount(id, 1000);
  const body = { enabled: true, threshold: 500, package_id: PACKAGE.id, ...(monthlyLimit === undefined ? {} : { monthly_limit: monthlyLimit }) };
  expect((await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body })).status).toBe(200);
  await saveCard(id, paymentMethod);
}

/** Runs the object's alarm at `at` (its clock stays there), as the runtime would when it comes due. */
async function alarmAt(id: string, at: number) {
  await setClock(id, at);
  await runDurableObjectAlarm(ledger(id));
}

beforeAll(withPackage);

describe("the monthly limit", () => {
  it("charges nothing past it and says why; the next month's start charges without waiting for a debit", async () => {
    const id = "ar-cap";
    await enabled(id, "pm_card_visa", 1000);
    for (const n of [1, 2]) {
      await debit(id, n === 1 ? 600 : 1000);
      await alarmAt(id, T + n);
      const pis = await paymentIntentsOf(id);
      expect(pis).toHaveLength(n);
      await deliverOutcome(pis.at(-1)!);
    }
    expect(await account(id)).toMatchObject({ balance: 1400, auto_recharge: { charged_this_month: 1000, status: "idle", held_back: null } });

    await debit(id, 1000);
    await alarmAt(id, T + 10);
    expect(await paymentIntentsOf(id)).toHaveLength(2);
    const april = Date.parse("2030-04-01T00:00:00Z");
    expect((await account(id)).auto_recharge).toMatchObject({
      status: "idle",
      charged_this_month: 1000,
      held_back: "monthly_limit_reached",
      held_back_until: "2030-04-01T00:00:00.000Z",
      message: expect.stringContaining("limit is reached"),
    });
    // The object wakes at the start of April (UTC, the account's zone) on its own.
    expect(await runInDurableObject(ledger(id), (_i, state) => state.storage.getAlarm())).toBeLessThanOrEqual(april);
    await alarmAt(id, april - 1);
    expect(await paymentIntentsOf(id)).toHaveLength(2);
    await alarmAt(id, april);
    const pis = await paymentIntentsOf(id);
    expect(pis).toHaveLength(3);
    expect((await account(id)).auto_recharge).toMatchObject({ status: "in_flight", charged_this_month: 0, held_back: null });
    await deliverOutcome(pis[2]!);
    expect(await account(id)).toMatchObject({ balance: 1400, auto_recharge: { status: "idle", charged_this_month: 500 } });
  });
});

describe("a card that keeps failing", () => {
  it("declined twice then authentication_required: disabled with the reason, events emitted, no more attempts until re-enabled", async () => {
    const id = "ar-failing";
    await scriptCard("pm_failing", ["card_declined", "card_declined", "authentication_required"]);
    await enabled(id, "pm_failing");
    await debit(id, 600);
    await alarmAt(id, T + 1);
    await alarmAt(id, T + 6 * HOUR);
    expect(await paymentIntentsOf(id)).toHaveLength(1);
    await alarmAt(id, T + 6 * HOUR + 1);
    expect(await paymentIntentsOf(id)).toHaveLength(2);
    await alarmAt(id, T + 30 * HOUR + 1);
    const failed = await paymentIntentsOf(id);
    expect(failed.map((pi) => [pi.status, pi.last_payment_error?.code])).toEqual([
      ["requires_payment_method", "card_declined"],
      ["requires_payment_method", "card_declined"],
      ["requires_action", "authentication_required"],
    ]);
    // Stripe's payment_failed webhooks arrive after the alarm's own answers: nothing changes.
    for (const pi of failed) await deliverOutcome(pi);
    expect((await account(id)).auto_recharge).toMatchObject({ enabled: true, status: "disabled", disabled_reason: "authentication_required" });
    await flush(id);
    const events = (await eventRows(id)).filter((e) => e.type.startsWith("auto_recharge."));
    expect(events.map((e) => [e.type, e.data.try ?? null])).toEqual([
      ["auto_recharge.failed", 1],
      ["auto_recharge.failed", 2],
      ["auto_recharge.failed", 3],
      ["auto_recharge.disabled", null],
    ]);
    expect(events[3]?.data).toMatchObject({ reason: "authentication_required" });

    // Spending on, days later: no attempt while disabled.
    await setClock(id, T + 72 * HOUR);
    await debit(id, 100);
    await alarmAt(id, T + 72 * HOUR + 1);
    expect(await paymentIntentsOf(id)).toHaveLength(3);

    // The user turns it on again (after fixing the card). The balance is already below the threshold,
    // which is no crossing: nothing is charged until spending takes it from above to below again.
    const again = await api("PUT", `/v1/accounts/${id}/auto-recharge`, { body: { enabled: true, threshold: 500, package_id: PACKAGE.id } });
    expect(again.body.auto_recharge).toMatchObject({ status: "idle", disabled_reason: null, held_back: "below_threshold" });
    await alarmAt(id, T + 72 * HOUR + 2);
    expect(await paymentIntentsOf(id)).toHaveLength(3);
    expect((await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 300 } })).status).toBe(201);
    await debit(id, 300);
    await alarmAt(id, T + 72 * HOUR + 3);
    const all = await paymentIntentsOf(id);
    expect(all).toHaveLength(4);
    expect(all[3]).toMatchObject({ status: "succeeded", metadata: { attempt: "2", try: "1" } });
    await deliverOutcome(all[3]!);
    expect(await account(id)).toMatchObject({ balance: 300 + PACKAGE.credits, auto_recharge: { status: "idle" } });
  });
});
