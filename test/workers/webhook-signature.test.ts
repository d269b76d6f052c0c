// Credence-Signature on real deliveries, checked with the receiver's helper: the right secret passes;
// a tampered body, another secret, a stale timestamp fail; during a rotation both secrets pass.
import { describe, expect, it } from "vitest";
import { parseCredenceSignature, verifyCredenceSignature } from "../../workers/webhooks/verify-signature";
import { api, flush, openAccount } from "./helpers";
import { createEndpoint, deliveriesUntil, receiver, type Received } from "./webhook-helpers";

/** One delivered balance.low to a fresh endpoint, as its receiver got it. */
async function oneDelivery(id: string, rotate = false): Promise<{ got: Received; secret: string; previous: string | null }> {
  const hook = receiver();
  const endpoint = await createEndpoint(hook.url, ["balance.low"]);
  let secret = endpoint.secret;
  let previous: string | null = null;
  if (rotate) {
    const rotated = await api("POST", `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(secret);
    expect(Date.parse(rotated.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(23.9 * 3_600_000);
    previous = secret;
    secret = rotated.body.secret;
  }
  await openAccount(id, 1000);
  await api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: 500 } });
  await api("POST", `/v1/accounts/${id}/debits`, { body: { amount: 600 } });
  await flush(id);
  await deliveriesUntil(endpoint.id, (rows) => rows[0]?.status === "delivered");
  return { got: hook.received()[0] as Received, secret, previous };
}

describe("Credence-Signature", () => {
  it("verifies with the endpoint's secret, and fails for a tampered body, another secret or a stale timestamp", async () => {
    const { got, secret } = await oneDelivery("sig-plain");
    const header = got.headers["credence-signature"];
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{40,}$/);
    expect(got.event).toMatchObject({ id: expect.stringMatching(/^evt_sig-plain_\d+$/), type: "balance.low", account_id: "sig-plain", data: { threshold: 500 } });
    expect(Object.keys(got.event).sort()).toEqual(["account_id", "created_at", "data", "id", "type"]);

    expect(await verifyCredenceSignature(got.body, header, secret)).toBe(true);
    expect(await verifyCredenceSignature(new TextEncoder().encode(got.body), header, secret)).toBe(true);
    expect(await verifyCredenceSignature(got.body.replace('"threshold":500', '"threshold":5'), header, secret)).toBe(false);
    expect(await verifyCredenceSignature(got.body, header, "whsec_another")).toBe(false);
    const t = (parseCredenceSignature(header as string)?.timestamp ?? 0) * 1000;
    expect(await verifyCredenceSignature(got.body, header, secret, { now: t + 301_000 })).toBe(false);
    expect(await verifyCredenceSignature(got.body, header, secret, { now: t + 301_000, toleranceSeconds: 600 })).toBe(true);
    expect(await verifyCredenceSignature(got.body, null, secret)).toBe(false);
    expect(await verifyCredenceSignature(got.body, "t=1,v1=zz", secret)).toBe(false);
    // As Node gives headers: one value verifies, a repeated header does not.
    expect(await verifyCredenceSignature(got.body, [header as string], secret)).toBe(true);
    expect(await verifyCredenceSignature(got.body, [header as string, header as string], secret)).toBe(false);
  });

  it("during a rotation, deliveries carry a v1 for each secret and both verify", async () => {
    const { got, secret, previous } = await oneDelivery("sig-rotated", true);
    const header = got.headers["credence-signature"] as string;
    expect(parseCredenceSignature(header)?.signatures).toHaveLength(2);
    expect(await verifyCredenceSignature(got.body, header, secret)).toBe(true);
    expect(await verifyCredenceSignature(got.body, header, previous as string)).toBe(true);
  });
});
