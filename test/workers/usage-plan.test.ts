import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { GRANULARITIES, type Granularity, usageQuery } from "../../workers/db/usage";

// /usage must cost what the window holds (at most 401 days × the account's operations), never what the
// shard holds: it reads one range of usage_daily's primary key, whatever the granularity.

async function plan(granularity: Granularity): Promise<string[]> {
  const { sql, params } = usageQuery({ accountId: "plan-acct", from: "2031-01-01", to: "2032-02-05", granularity });
  // Any shard has the schema; the history of sharded accounts lives in these.
  const rows = await env.HISTORY_1.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
  return rows.results.map((r) => r.detail);
}

describe("the usage query plan", () => {
  it.each(GRANULARITIES)("granularity=%s: searches the primary key by account and day range, never scans", async (granularity) => {
    const steps = await plan(granularity);
    const text = steps.join("\n");
    expect(steps.length).toBeGreaterThan(0);
    for (const step of steps) expect(step, text).not.toMatch(/^SCAN usage_daily\b/);
    expect(text).toMatch(/SEARCH usage_daily USING (INDEX sqlite_autoindex_usage_daily_1|PRIMARY KEY) \(account_id=\? AND day>\? AND day<\?\)/);
  });

  it("by day, the rows come in key order: nothing is sorted", async () => {
    expect((await plan("day")).join("\n")).not.toMatch(/TEMP B-TREE/);
  });
});
