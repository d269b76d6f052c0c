import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { entriesQuery, type EntryFilter } from "../../workers/db/history";

// Listing history must cost what the page costs, not what the account's history holds: every filter
// reaches its rows through an index, and none sorts the account's history to find the newest.

async function plan(filter: Omit<EntryFilter, "accountId" | "limit">): Promise<string[]> {
  const { sql, params } = entriesQuery({ accountId: "plan-acct", limit: 26, ...filter });
  const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
  return rows.results.map((r) => r.detail);
}

const FROM = Date.parse("2026-03-01T00:00:00Z");
const TO = Date.parse("2026-03-31T00:00:00Z");

describe("the entries query plan", () => {
  it.each<[string, Omit<EntryFilter, "accountId" | "limit">]>([
    ["no filter", {}],
    ["a cursor", { before: 500 }],
    ["kind", { kind: "debit" }],
    ["operation", { operation: "chat" }],
    ["from", { from: FROM }],
    ["to", { to: TO }],
    ["from and to with a cursor", { from: FROM, to: TO, before: 500 }],
    ["kind, operation, from and to", { kind: "debit", operation: "chat", from: FROM, to: TO }],
  ])("%s: searches an index, never scans or sorts the history", async (_name, filter) => {
    const steps = await plan(filter);
    expect(steps.length).toBeGreaterThan(0);
    for (const step of steps) {
      expect(step, steps.join("\n")).not.toMatch(/^SCAN ledger_entries\b/);
      expect(step, steps.join("\n")).not.toMatch(/TEMP B-TREE/);
    }
    expect(steps.filter((s) => /^SEARCH ledger_entries USING/.test(s)).length, steps.join("\n")).toBeGreaterThan(0);
  });

  it("a time window reaches its rows through the created_at index", async () => {
    const steps = await plan({ from: FROM, to: TO });
    expect(steps.join("\n")).toMatch(/ledger_entries_account_created/);
  });
});
