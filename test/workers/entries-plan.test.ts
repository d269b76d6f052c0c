import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { entriesQuery, type EntryFilter } from "../../workers/db/history";

// Listing history must cost what the page costs, not what the account's history holds: every filter
// reaches its rows through an index, and none sorts the account's history to find the newest.

async function plan(filter: Omit<EntryFilter, "accountId" | "limit">): Promise<string[]> {
  const { sql, params } = entriesQuery({ accountId: "plan-acct", limit: 26, ...filter });
  // A history shard: entries live there (every D1 database has the same schema).
  const rows = await env.HISTORY_1.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
  return rows.results.map((r) => r.detail);
}

const FROM = Date.parse("2026-03-01T00:00:00Z");
const TO = Date.parse("2026-03-31T00:00:00Z");

/** Every combination of the filters an entries request can carry: 2^5 of them. */
const FILTERS: Omit<EntryFilter, "accountId" | "limit">[] = [];
for (let mask = 0; mask < 32; mask++) {
  FILTERS.push({
    ...(mask & 1 ? { before: 500 } : {}),
    ...(mask & 2 ? { kind: "debit" } : {}),
    ...(mask & 4 ? { operation: "chat" } : {}),
    ...(mask & 8 ? { from: FROM } : {}),
    ...(mask & 16 ? { to: TO } : {}),
  });
}

describe("the entries query plan", () => {
  it.each(FILTERS.map((f) => [Object.keys(f).join(", ") || "no filter", f] as const))("%s: searches an index, never scans or sorts the history", async (_name, filter) => {
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
