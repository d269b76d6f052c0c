// Reading an account's spending from its daily rollups (usage_daily). The window is a range of the
// primary key (account_id, day, operation), so a year of an account costs its own few hundred rows
// and never a look at anyone else's; weeks and months are folded from days by SQLite's date functions.

export const GRANULARITIES = ["day", "week", "month"] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** The first local day of the period holding `day` (days are 'YYYY-MM-DD' text). */
const PERIOD: Record<Granularity, string> = {
  day: "day",
  // 'weekday 1' moves forward to the next Monday unless already on one: from six days back, that is
  // the Monday on or before the day (ISO weeks start on Monday).
  week: "date(day, '-6 days', 'weekday 1')",
  month: "substr(day, 1, 7) || '-01'",
};

export interface UsageFilter {
  accountId: string;
  /** Inclusive local days, 'YYYY-MM-DD'. */
  from: string;
  to: string;
  granularity: Granularity;
}

export interface UsageRow {
  period: string;
  /** '' for debits of a bare amount. */
  operation: string;
  count: number;
  credits: number;
}

/** The SQL and parameters of a usage read; exported so a test can check its query plan. */
export function usageQuery(f: UsageFilter): { sql: string; params: string[] } {
  const sql = `SELECT ${PERIOD[f.granularity]} AS period, operation, sum(count) AS count, sum(credits) AS credits
    FROM usage_daily WHERE account_id = ?1 AND day BETWEEN ?2 AND ?3
    GROUP BY 1, 2 ORDER BY 1, 2`;
  return { sql, params: [f.accountId, f.from, f.to] };
}

export async function readUsage(db: D1Database, f: UsageFilter): Promise<UsageRow[]> {
  const { sql, params } = usageQuery(f);
  // Rows as arrays: a 400-day answer is a few thousand rows, and D1 then skips naming every column.
  const rows = await db.prepare(sql).bind(...params).raw<[string, string, number, number]>();
  return rows.map(([period, operation, count, credits]) => ({ period, operation, count, credits }));
}
