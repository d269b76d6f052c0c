import { describe, expect, it } from "vitest";
import { setClock } from "./cron-helpers";
import { account, api, audit, d1Entries, flush, freshKey, openAccount } from "./helpers";

describe("credit expiry", () => {
  it("an expired lot counts for nothing from its instant, and the alarm writes the expire entry", async () => {
    await openAccount("expiry", 100);
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    await api("POST", "/v1/accounts/expiry/grants", { body: { amount: 40, source: "promo", expires_at: expiresAt } });
    const before = await account("expiry");
    expect(before.balance).toBe(140);
    expect(before.next_expiry).toEqual({ at: expiresAt, amount: 40 });

    // Spending burns the expiring promo lot first.
    await api("POST", "/v1/accounts/expiry/debits", { body: { amount: 10 } });
    await setClock("expiry", Date.parse(expiresAt));
    await flush("expiry");
    const after = await account("expiry");
    expect(after.balance).toBe(100);
    expect(after.next_expiry).toBeNull();
    expect(after.lots.map((l: { source: string }) => l.source)).toEqual(["grant"]);
    await flush("expiry");
    const rows = await d1Entries("expiry");
    expect(rows.map((r) => [r.kind, r.amount])).toEqual([
      ["grant", 100],
      ["grant", 40],
      ["debit", -10],
      ["expire", -30],
    ]);
    expect(await audit("expiry")).toMatchObject({ balance: 100, journalSum: 100 });
  });
});

describe("idempotency retention", () => {
  it("keeps an answer for 7 days, then forgets it", async () => {
    await openAccount("retention", 100);
    const key = freshKey();
    await api("POST", "/v1/accounts/retention/debits", { body: { amount: 1 }, idem: key });
    const start = Date.now();

    await setClock("retention", start + 6 * 24 * 3600_000);
    await flush("retention");
    const replay = await api("POST", "/v1/accounts/retention/debits", { body: { amount: 1 }, idem: key });
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");

    await setClock("retention", start + 7 * 24 * 3600_000 + 1000);
    await flush("retention");
    const fresh = await api("POST", "/v1/accounts/retention/debits", { body: { amount: 1 }, idem: key });
    expect(fresh.headers.get("Idempotent-Replayed")).toBeNull();
    expect((await account("retention")).balance).toBe(98);
  });
});
