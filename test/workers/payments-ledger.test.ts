import { describe, expect, it } from "vitest";
import { account, api, audit, flush, d1Entries, ledger, openAccount } from "./helpers";

// The object's side of payments, called as the Stripe webhook will call it: each change under an
// idempotency key derived from the Stripe object, so that redeliveries change nothing.

const idem = (key: string) => ({ key, fingerprint: key });
const credit = (id: string, reference: string, credits: number) =>
  ledger(id).creditPurchase(idem(`purchase:${reference}`), { reference, credits, description: "starter", metadata: null, event: { package_id: "starter" } });
/** A purchase of 1000 credits for 500, refunded up to `refunded` (cumulative, as Stripe reported it at `at`). */
const refund = (id: string, reference: string, refunded: number, at: number) =>
  ledger(id).applyClaims({ reference, credits: 1000, paid: 500, currency: "usd", facts: { refunded: { amount: refunded, at }, refunds: {}, disputes: {}, charge: 500 } });

describe("a purchase credited by the webhook", () => {
  it("credits once however many times it is delivered at once", async () => {
    const ID = "pay-once";
    await openAccount(ID);
    const answers = await Promise.all(Array.from({ length: 5 }, () => credit(ID, "cs_once", 1000)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => JSON.parse(a.json).lot_id)).size).toBe(1);
    const a = await account(ID);
    expect(a.balance).toBe(1000);
    expect(a.lots).toEqual([expect.objectContaining({ source: "purchase", amount: 1000 })]);
    // Purchased credits last PURCHASE_EXPIRY_DAYS (365 in wrangler.toml).
    const days = (Date.parse(a.lots[0].expires_at) - Date.parse(a.lots[0].created_at)) / 86_400_000;
    expect(days).toBe(365);
    await flush(ID);
    expect(await d1Entries(ID)).toEqual([expect.objectContaining({ kind: "grant", amount: 1000 })]);
  });

  it("partial refunds out of order claw back the largest cumulative target once", async () => {
    const ID = "pay-refunds";
    await openAccount(ID);
    await credit(ID, "cs_r", 1000);
    // Stripe reported 150 (at t=1) then 300 (t=2); its events arrive in any order, twice.
    for (const [refunded, at] of [[300, 2], [150, 1], [300, 2], [150, 1]] as const) expect((await refund(ID, "cs_r", refunded, at)).status).toBe(200);
    expect((await account(ID)).balance).toBe(400);
    expect(await audit(ID)).toMatchObject({ balance: 400, journalSum: 400 });
  });
});

describe("PUT /v1/accounts/{id}/block", () => {
  it("stops debits and holds with 402 spending_blocked, shows why, and lifts", async () => {
    const ID = "pay-block";
    await openAccount(ID, 100);
    const hold = await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 10 } });
    const blocked = await api("PUT", `/v1/accounts/${ID}/block`, { body: { blocked: true, reason: "fraud review" } });
    expect(blocked.status).toBe(200);
    expect(blocked.body.blocked).toMatchObject({ reason: "fraud review" });
    const debit = await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 1 } });
    expect(debit.status).toBe(402);
    expect(debit.body.error).toMatchObject({ type: "spending_blocked", reason: "fraud review" });
    expect((await api("POST", `/v1/accounts/${ID}/holds`, { body: { amount: 1 } })).body.error.type).toBe("spending_blocked");
    // Work already under way still settles.
    expect((await api("POST", `/v1/accounts/${ID}/holds/${hold.body.hold_id}/capture`, { body: { amount: 5 } })).status).toBe(200);
    const lifted = await api("PUT", `/v1/accounts/${ID}/block`, { body: { blocked: false } });
    expect(lifted.body.blocked).toBeNull();
    expect((await api("POST", `/v1/accounts/${ID}/debits`, { body: { amount: 1 } })).status).toBe(201);
  });

  it("needs the admin scope, and a known account", async () => {
    const writer = await api("POST", "/v1/api-keys", { body: { name: "writer", scopes: ["write"] } });
    await openAccount("pay-block-scope", 10);
    expect((await api("PUT", "/v1/accounts/pay-block-scope/block", { body: { blocked: true }, key: writer.body.key })).status).toBe(403);
    expect((await api("PUT", "/v1/accounts/pay-nobody/block", { body: { blocked: true } })).status).toBe(404);
  });
});
