// Reconciliation: rows missing from a shard are found, written back from the object, and reported.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, flush, historyOf } from "./helpers";
import { reconcile } from "../../workers/cron/reconcile";
import { eventRows, historyRows, latestPass, RECONCILE_CRON, runCron, setClock } from "./cron-helpers";

const AT = Date.parse("2032-05-04T08:00:00.000Z");
const LATER = AT + 30 * 60_000;

async function accountWithHistory(id: string): Promise<void> {
  await setClock(id, AT);
  await api("PUT", `/v1/accounts/${id}`, { body: {} });
  await api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: 50 } });
  await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 100 } });
  for (const amount of [10, 20, 30]) await api("POST", `/v1/accounts/${id}/debits`, { body: { amount } });
  await flush(id);
}

describe("reconciliation of D1 against the objects", () => {
  it("restores entries and events deleted from the shard and reports the drift", async () => {
    await accountWithHistory("drifted");
    await accountWithHistory("intact");
    const db = await historyOf("drifted");
    const before = await historyRows("drifted");
    const beforeEvents = await eventRows("drifted");
    expect(before.map((r) => r.kind)).toEqual(["grant", "debit", "debit", "debit"]);
    // Low when the threshold was set on an empty account, and again when the debits crossed it.
    expect(beforeEvents.map((e) => e.type)).toEqual(["balance.low", "balance.low"]);
    await db.batch([
      db.prepare("DELETE FROM ledger_entries WHERE account_id = 'drifted' AND seq IN (2, 4)"),
      db.prepare("DELETE FROM account_events WHERE account_id = 'drifted'"),
    ]);

    await runCron(LATER, RECONCILE_CRON);

    expect(await historyRows("drifted")).toEqual(before);
    expect(await eventRows("drifted")).toEqual(beforeEvents);
    const drift = await env.DB.prepare("SELECT * FROM history_drift WHERE account_id = 'drifted'").all<Record<string, unknown>>();
    expect(drift.results).toEqual([
      expect.objectContaining({ missing_entries: 2, missing_events: 2, sum_difference: 40, entries_repaired: 2, events_repaired: 2, unresolved_difference: 0 }),
    ]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM history_drift WHERE account_id = 'intact'").first("n")).toBe(0);
    const pass = await latestPass("reconcile");
    expect(pass).toMatchObject({ entries_repaired: 2, events_repaired: 2, drift_accounts: 1, failures: 0 });
    expect(pass?.finished_at).not.toBeNull();
    expect(Number(pass?.accounts)).toBeGreaterThanOrEqual(2);

    const health = await api("GET", "/v1/admin/health");
    expect(health.status).toBe(200);
    expect(health.body.drift).toMatchObject({ accounts_with_drift: 1, entries_repaired: 2, events_repaired: 2 });
    expect(health.body.unresolved_drift).toBe(0);

    // The next pass finds nothing left to repair.
    await runCron(LATER + 3600_000, RECONCILE_CRON);
    expect(await latestPass("reconcile")).toMatchObject({ entries_repaired: 0, drift_accounts: 0 });
  });

  it("does not count history still on its way to D1 as drift", async () => {
    await accountWithHistory("in-flight");
    const db = await historyOf("in-flight");
    await db.prepare("DELETE FROM ledger_entries WHERE account_id = 'in-flight' AND seq = 4").run();
    // Shipped a minute before the pass: within the grace, so it may still be in the Queue.
    await runCron(AT + 60_000, RECONCILE_CRON);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM history_drift WHERE account_id = 'in-flight'").first("n")).toBe(0);
    expect((await historyRows("in-flight")).map((r) => r.seq)).toEqual([1, 2, 3]);
    // Once the grace has passed, the same hole is drift: found and filled.
    await runCron(AT + 20 * 60_000, RECONCILE_CRON);
    expect(await env.DB.prepare("SELECT missing_entries FROM history_drift WHERE account_id = 'in-flight'").first("missing_entries")).toBe(1);
    expect((await historyRows("in-flight")).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  });
});

describe("which accounts a pass checks", () => {
  it("goes on from where the last pass stopped, even among accounts touched in the same millisecond", async () => {
    const at = Date.parse("2032-06-01T08:00:00.000Z");
    const ids = ["cursor-a", "cursor-b", "cursor-c"];
    for (const id of ids) {
      await setClock(id, at);
      await api("PUT", `/v1/accounts/${id}`, { body: {} });
      await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 10 } });
      await flush(id);
      await (await historyOf(id)).prepare("DELETE FROM ledger_entries WHERE account_id = ?").bind(id).run();
    }
    // Each pass has room for one touched account and no sample: three passes, three accounts, in order.
    const limits = { RECONCILE_MAX_ACCOUNTS: "1", RECONCILE_SAMPLE: "0" };
    const found: string[] = [];
    for (let pass = 1; pass <= 3; pass++) {
      await runCron(at + pass * 3600_000, RECONCILE_CRON, limits);
      const drift = await env.DB.prepare("SELECT account_id FROM history_drift WHERE run_id = ?").bind(`reconcile_${at + pass * 3600_000}`).all<{ account_id: string }>();
      found.push(...drift.results.map((r) => r.account_id));
    }
    expect(found).toEqual(ids);
    for (const id of ids) expect((await historyRows(id)).map((r) => r.kind)).toEqual(["grant"]);
  });
});

describe("a hole larger than one pass repairs", () => {
  it("is filled over the following passes, which come back to the account until D1 agrees", async () => {
    const at = Date.parse("2032-07-01T08:00:00.000Z");
    const id = "big-hole";
    await setClock(id, at);
    await api("PUT", `/v1/accounts/${id}`, { body: {} });
    await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 100 } });
    for (const amount of [1, 2, 3, 4]) await api("POST", `/v1/accounts/${id}/debits`, { body: { amount } });
    await flush(id);
    await (await historyOf(id)).prepare("DELETE FROM ledger_entries WHERE account_id = ?").bind(id).run();
    // No sample, and each pass repairs at most 2 rows: only the unresolved drift brings the account back.
    // After the first pass D1 holds +100 and −1 (Σ 99 against the object's 90) and lacks 3 rows: 9 + 3.
    const pass = (n: number) =>
      reconcile(env as never, { scheduledTime: at + n * 3600_000, deadline: Date.now() + 60_000, sample: 0, maxAccounts: 100, concurrency: 4, maxRepairRows: 2 });
    const first = await pass(1);
    expect(first.drift).toEqual([expect.objectContaining({ accountId: id, missingEntries: 5, entriesRepaired: 2, unresolvedDifference: 9 + 3 })]);
    expect((await pass(2)).drift).toEqual([expect.objectContaining({ accountId: id, missingEntries: 3, entriesRepaired: 2 })]);
    expect((await pass(3)).drift).toEqual([expect.objectContaining({ accountId: id, missingEntries: 1, entriesRepaired: 1, unresolvedDifference: 0 })]);
    expect((await pass(4)).drift).toEqual([]);
    expect((await historyRows(id)).map((r) => r.amount)).toEqual([100, -1, -2, -3, -4]);
  });
});
