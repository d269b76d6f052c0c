// Outgoing webhooks end to end in the Workers runtime: the objects' events reach D1 through the history
// Queue, fan out to the endpoints, and the deliveries Queue POSTs them to receivers (behind the
// consumer's injected fetch), signed, retried, recorded.
import { describe, expect, it } from "vitest";
import { api, flush, openAccount } from "./helpers";
import { createEndpoint, deliveriesUntil, receiver } from "./webhook-helpers";

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
});
