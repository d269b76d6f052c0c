// Outgoing webhooks end to end in the Workers runtime: the objects' events reach D1 through the history
// Queue, fan out to the endpoints, and the deliveries Queue POSTs them to receivers (behind the
// consumer's injected fetch), signed, retried, recorded.
import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import { RETRY_WINDOW_MS, consumeDeliveries } from "../../workers/webhooks/deliver";
import { deliveryMessage } from "../../workers/webhooks/delivery-message";
import { runCron, setClock } from "./cron-helpers";
import { api, eventually, flush, ledger, openAccount } from "./helpers";
import { createEndpoint, deliveriesOf, deliveriesUntil, receiver } from "./webhook-helpers";

const lowAlert = (id: string, threshold: number) => api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: threshold } });
const debit = (id: string, amount: number) => api("POST", `/v1/accounts/${id}/debits`, { body: { amount } });

/**
 * Whether the account's latest events have been fanned out to `witnessId`, an active endpoint that takes
 * them: flush() returns once history is in D1, and the consumer fans the events out only after that.
 * Waits for it, so that what a disabled endpoint did not get is checked after it would have got it.
 */
async function fannedOut(witnessId: string, accountId: string): Promise<boolean> {
  const rows = await deliveriesUntil(witnessId, (r) => r.some((row) => row.account_id === accountId));
  return rows.some((row) => row.account_id === accountId);
}

/** An account whose next debit of 600 crosses its low-balance threshold (one balance.low event). */
async function aboutToRunLow(id: string) {
  await openAccount(id, 1000);
  expect((await lowAlert(id, 500)).status).toBe(200);
}

describe("delivery", () => {
  it("a burst of debits crossing the low threshold delivers exactly one balance.low; a top-up and another crossing deliver a second", async () => {
    const hook = receiver();
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    const id = "wh-low";
    await openAccount(id, 1000);
    expect((await api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: 500 } })).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 60 }, () => api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 10 } })));
    expect(answers.every((a) => a.status === 201)).toBe(true);
    await flush(id);
    const first = await deliveriesUntil(endpoint.id, (rows) => rows.length === 1 && rows[0]?.status === "delivered");
    expect(first).toEqual([expect.objectContaining({ type: "balance.low", account_id: id, status: "delivered", attempts: 1 })]);
    expect(hook.received().map((r) => r.event.type)).toEqual(["balance.low"]);

    await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: 1000 } });
    await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 1000 } });
    await flush(id);
    const second = await deliveriesUntil(endpoint.id, (rows) => rows.length === 2 && rows.every((r) => r.status === "delivered"));
    expect(second.map((r) => r.type)).toEqual(["balance.low", "balance.low"]);
    expect(new Set(hook.received().map((r) => r.event.id)).size).toBe(2);
  });

  it("a receiver failing 3 times then succeeding gets the event once it recovers, every attempt recorded", async () => {
    const hook = receiver((_r, count) => (count <= 3 ? 503 : 200));
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    await aboutToRunLow("wh-flaky");
    await debit("wh-flaky", 600);
    await flush("wh-flaky");
    const [row] = await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "delivered");
    expect(row).toMatchObject({ status: "delivered", attempts: 4, last_status_code: 200 });
    // Four POSTs of the same event, with the same id.
    expect(hook.received().map((r) => r.event.id)).toEqual(Array(4).fill(row?.event_id));
    const log = await api("GET", `/v1/webhook-endpoints/${endpoint.id}/deliveries`);
    expect(log.body.data).toEqual([expect.objectContaining({ event_id: row?.event_id, type: "balance.low", status: "delivered", attempts: 4, last_status_code: 200 })]);
    // Its success clears the endpoint's failing streak.
    const listed = (await api("GET", "/v1/webhook-endpoints")).body.data.find((e: { id: string }) => e.id === endpoint.id);
    expect(listed).toMatchObject({ status: "active", failing_since: null, last_success_at: expect.any(String) });
  });

  it("a receiver that never recovers: the delivery ends failed after 3 days, and the endpoint is disabled", async () => {
    // On its first call the receiver moves what is stored 3 days back, as if the delivery and the
    // endpoint had been failing since then: that attempt is the one past the window.
    let endpointId = "";
    const hook = receiver(async (_request, count) => {
      if (count === 1) {
        const past = Date.now() - RETRY_WINDOW_MS - 1000;
        await env.DB.batch([
          env.DB.prepare("UPDATE webhook_deliveries SET first_attempt_at = ?2 WHERE endpoint_id = ?1").bind(endpointId, past),
          env.DB.prepare("UPDATE webhook_endpoints SET failing_since = ?2 WHERE id = ?1").bind(endpointId, past),
        ]);
      }
      return 500;
    });
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    endpointId = endpoint.id;
    await aboutToRunLow("wh-dead");
    await debit("wh-dead", 600);
    await flush("wh-dead");
    const [row] = await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "failed");
    expect(row).toMatchObject({ status: "failed", attempts: 1, last_status_code: 500 });
    const health = await api("GET", "/v1/admin/health");
    expect(health.body.webhooks.disabled_endpoints).toContainEqual(
      expect.objectContaining({ id: endpoint.id, disabled_reason: "every delivery failed for 3 days" }),
    );
    // Disabled: a later event is not sent to it. (Once that event is in D1 the fan-out is still to come:
    // an active endpoint that receives it shows when the disabled one would have got its row too.)
    const witness = await createEndpoint(receiver().url, ["balance.low"]);
    await api("POST", "/v1/accounts/wh-dead/grants", { body: { amount: 1000 } });
    await debit("wh-dead", 1000);
    await flush("wh-dead");
    expect(await fannedOut(witness.id, "wh-dead")).toBe(true);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(1);
    expect(hook.received()).toHaveLength(1);
  });

  it("an event whose transaction rolled back is never delivered", async () => {
    const hook = receiver();
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    await aboutToRunLow("wh-rollback");
    // The debit's transaction fails after its rule ran (the balance.low it raised was in it).
    await runInDurableObject(ledger("wh-rollback"), (instance: AccountLedger) => {
      const store = (instance as unknown as { store: { persist: (...args: unknown[]) => unknown } }).store;
      const persist = store.persist.bind(store);
      let calls = 0;
      store.persist = (...args: unknown[]) => {
        if (++calls === 1) throw new Error("test: the transaction fails");
        return persist(...args);
      };
    });
    expect((await debit("wh-rollback", 600)).status).toBe(500);
    await flush("wh-rollback");
    expect(await deliveriesOf(endpoint.id)).toEqual([]);
    // The same debit now commits: its balance.low is the only one delivered.
    expect((await debit("wh-rollback", 600)).status).toBe(201);
    await flush("wh-rollback");
    await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "delivered");
    expect(hook.received()).toHaveLength(1);
  });

  it("a message the Queue delivers twice is POSTed with the same event id", async () => {
    const hook = receiver();
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    await aboutToRunLow("wh-twice");
    await debit("wh-twice", 600);
    await flush("wh-twice");
    const [row] = await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "delivered");
    // The Queue brings the same message twice at once (its ack was lost): both may POST, never another id.
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'pending' WHERE endpoint_id = ?").bind(endpoint.id).run();
    const message = { id: "m1", timestamp: new Date(), attempts: 1, body: deliveryMessage(endpoint.id, row!.event_id) };
    const batches = [createMessageBatch("credence-deliveries", [message]), createMessageBatch("credence-deliveries", [{ ...message, id: "m2" }])];
    await Promise.all(batches.map((batch) => consumeDeliveries(batch, env)));
    for (const batch of batches) expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toHaveLength(1);
    const ids = hook.received().map((r) => [r.event.id, r.headers["credence-event-id"]]);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    expect(new Set(ids.flat())).toEqual(new Set([row!.event_id]));
  });

  it("spending_limit.reached is delivered once per period", async () => {
    const hook = receiver();
    const endpoint = await createEndpoint(hook.url, ["spending_limit.reached"]);
    const id = "wh-limit";
    const day = Date.parse("2030-05-10T12:00:00Z");
    await setClock(id, day);
    await openAccount(id, 10_000);
    expect((await api("PUT", `/v1/accounts/${id}/limits`, { body: { daily: 100 } })).status).toBe(200);
    expect((await debit(id, 80)).status).toBe(201);
    for (let i = 0; i < 5; i++) expect((await debit(id, 50)).status).toBe(402);
    await flush(id);
    await deliveriesUntil(endpoint.id, (rows) => rows.length === 1 && rows[0]?.status === "delivered");
    // The next day's limit is reached once more.
    await setClock(id, day + 24 * 3_600_000);
    expect((await debit(id, 80)).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await debit(id, 50)).status).toBe(402);
    await flush(id);
    const rows = await deliveriesUntil(endpoint.id, (r) => r.length === 2 && r.every((x) => x.status === "delivered"));
    expect(rows.map((r) => r.type)).toEqual(["spending_limit.reached", "spending_limit.reached"]);
    expect(hook.received().map((r) => r.event.data.period)).toEqual(["daily", "daily"]);
  });

  it("a failed delivery can be sent again by hand; a disabled endpoint receives nothing", async () => {
    let up = false;
    const hook = receiver(() => (up ? 200 : 500));
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    await aboutToRunLow("wh-manual");
    await debit("wh-manual", 600);
    await flush("wh-manual");
    await deliveriesUntil(endpoint.id, (rows) => (rows[0]?.attempts ?? 0) >= 2);
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'failed' WHERE endpoint_id = ?").bind(endpoint.id).run();
    const [failed] = await deliveriesOf(endpoint.id);
    const resent = await api("POST", `/v1/webhook-endpoints/${endpoint.id}/deliveries/${failed!.event_id}/retry`);
    expect(resent.status).toBe(202);
    // The receiver recovers only now: an attempt of the Queue's own retries still in flight (it read the
    // row before it was failed) cannot deliver the event before it was sent again by hand.
    up = true;
    expect((await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "delivered"))[0]?.status).toBe("delivered");
    expect(hook.received().at(-1)?.event.id).toBe(failed!.event_id);

    expect((await api("DELETE", `/v1/webhook-endpoints/${endpoint.id}`)).body).toMatchObject({ status: "disabled", disabled_reason: "disabled by an admin" });
    const witness = await createEndpoint(receiver().url, ["balance.low"]);
    await api("POST", "/v1/accounts/wh-manual/grants", { body: { amount: 1000 } });
    await debit("wh-manual", 1000);
    await flush("wh-manual");
    expect(await fannedOut(witness.id, "wh-manual")).toBe(true);
    expect(await deliveriesOf(endpoint.id)).toHaveLength(1);
    // Nothing of the new event. (A second message of the old one, sent by the hand retry or the Queue's
    // retries, may still be arriving: its POST is the same event again, as at-least-once allows.)
    expect(hook.received().filter((r) => r.event.id !== failed!.event_id)).toEqual([]);
    expect((await api("POST", `/v1/webhook-endpoints/${endpoint.id}/deliveries/${failed!.event_id}/retry`)).status).toBe(409);
  });
});

describe("the cron's backstop", () => {
  it("queues again a pending delivery whose message was lost", async () => {
    const hook = receiver();
    const endpoint = await createEndpoint(hook.url, ["balance.low"]);
    const now = Date.now();
    // A row the fan-out wrote before failing to send its message, 20 minutes ago.
    await env.DB.prepare(
      `INSERT INTO webhook_deliveries (endpoint_id, event_id, account_id, type, payload, status, next_attempt_at, event_created_at, created_at, updated_at)
       VALUES (?1, 'evt_wh-lost_1', 'wh-lost', 'balance.low', ?2, 'pending', ?3, ?3, ?3, ?3)`,
    )
      .bind(endpoint.id, JSON.stringify({ id: "evt_wh-lost_1", type: "balance.low", created_at: new Date(now).toISOString(), account_id: "wh-lost", data: {} }), now - 20 * 60_000)
      .run();
    await runCron(now);
    await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "delivered");
    expect(hook.received().map((r) => r.event.id)).toEqual(["evt_wh-lost_1"]);
  });
});
