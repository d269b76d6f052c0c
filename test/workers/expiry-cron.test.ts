// Expiry at the exact millisecond, written once whichever of a request, the alarm or the cron sweep
// gets there first.
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { account, api, flush, ledger } from "./helpers";
import { eventRows, historyRows, journalOf, runCron, setClock } from "./cron-helpers";

const START = Date.parse("2031-02-10T09:00:00.000Z");
const EXPIRES = Date.parse("2031-02-10T10:00:00.000Z");

/** An account with 100 credits that never expire and 40 that expire at EXPIRES, its history in D1. */
async function withExpiringLot(id: string): Promise<void> {
  await setClock(id, START);
  expect((await api("PUT", `/v1/accounts/${id}`, { body: {} })).status).toBe(201);
  await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 100 } });
  const grant = await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 40, source: "promo", expires_at: new Date(EXPIRES).toISOString() } });
  expect(grant.status).toBe(201);
  await flush(id);
}

const expires = async (id: string) => (await historyRows(id)).filter((r) => r.kind === "expire");

describe("expiry at the exact millisecond", () => {
  it("the lot is spendable 1 ms before its expiry and not 1 ms after; the refused debit writes the expire entry, dated at the expiry", async () => {
    await withExpiringLot("exact-ms");
    await setClock("exact-ms", EXPIRES - 1);
    const quote = await api("POST", "/v1/accounts/exact-ms/quote", { body: { amount: 140 } });
    expect(quote.body).toMatchObject({ affordable: true, available: 140 });

    await setClock("exact-ms", EXPIRES + 1);
    const late = await api("POST", "/v1/accounts/exact-ms/debits", { body: { amount: 140 } });
    expect(late.status).toBe(402);
    expect(late.body.error).toMatchObject({ type: "insufficient_credits", required: 140, available: 100 });
    await flush("exact-ms");
    expect(await expires("exact-ms")).toEqual([
      expect.objectContaining({ amount: -40, created_at: new Date(EXPIRES).toISOString(), metadata: expect.objectContaining({ expired_at: new Date(EXPIRES).toISOString() }) }),
    ]);
  });

  it("the alarm and the cron sweep both running after the expiry write one expire entry and one credits.expired", async () => {
    await withExpiringLot("exact-both");
    await setClock("exact-both", EXPIRES + 1);
    await Promise.all([runDurableObjectAlarm(ledger("exact-both")), runCron(EXPIRES + 1), runDurableObjectAlarm(ledger("exact-both"))]);
    await runCron(EXPIRES + 2);
    await flush("exact-both");
    const rows = await expires("exact-both");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ amount: -40, created_at: new Date(EXPIRES).toISOString() });
    expect((await eventRows("exact-both")).filter((e) => e.type === "credits.expired")).toHaveLength(1);
    expect((await account("exact-both")).balance).toBe(100);
  });

  it("the cron sweep alone writes it when the alarm never ran, dated at the expiry, not at the sweep", async () => {
    await withExpiringLot("exact-cron");
    const sweepAt = EXPIRES + 3 * 3600_000;
    await setClock("exact-cron", sweepAt);
    expect((await journalOf("exact-cron")).map((e) => e.kind)).not.toContain("expire");
    await runCron(sweepAt);
    // Written by the sweep's call, before any alarm runs (flush() below runs one, to ship it).
    expect((await journalOf("exact-cron")).filter((e) => e.kind === "expire")).toEqual([{ kind: "expire", amount: -40, created_at: new Date(EXPIRES).toISOString() }]);
    await flush("exact-cron");
    expect(await expires("exact-cron")).toEqual([expect.objectContaining({ amount: -40, created_at: new Date(EXPIRES).toISOString() })]);
  });

  it("a lot within 7 days of expiring raises one credits.expiring, however often it is settled", async () => {
    await withExpiringLot("expiring-notice");
    await setClock("expiring-notice", START + 60_000);
    await runCron(START + 60_000);
    await runDurableObjectAlarm(ledger("expiring-notice"));
    await flush("expiring-notice");
    const notices = (await eventRows("expiring-notice")).filter((e) => e.type === "credits.expiring");
    expect(notices).toEqual([expect.objectContaining({ data: expect.objectContaining({ amount: 40, source: "promo", expires_at: new Date(EXPIRES).toISOString() }) })]);
  });
});
