// Reading an account's history from D1. Entries are keyed by (account_id, seq), and the object stamps
// them with non-decreasing created_at, so a time window is a seq range: its two ends are found by
// seeking the (account_id, created_at, seq) index, and the page is then read from the primary key,
// never by walking the account's whole history.

import { entryId } from "../../durable-objects/ids";

export interface EntryFilter {
  accountId: string;
  /** Only entries with a smaller seq (the cursor). */
  before?: number | undefined;
  kind?: string | undefined;
  operation?: string | undefined;
  /** Inclusive bounds on created_at, in UTC milliseconds. */
  from?: number | undefined;
  to?: number | undefined;
  limit: number;
}

export interface EntryRow {
  seq: number;
  kind: string;
  amount: number;
  balance_after: number;
  operation: string | null;
  quantities: string | null;
  hold_id: string | null;
  lot_id: string | null;
  reserved: number | null;
  description: string | null;
  metadata: string | null;
  created_at: number;
}

/** The SQL and parameters of one page, newest first; exported so a test can check its query plan. */
export function entriesQuery(f: EntryFilter): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [f.accountId];
  const at = (value: string | number) => `?${params.push(value)}`;
  const where = ["account_id = ?1"];
  if (f.before !== undefined) where.push(`seq < ${at(f.before)}`);
  if (f.kind !== undefined) where.push(`kind = ${at(f.kind)}`);
  if (f.operation !== undefined) where.push(`operation = ${at(f.operation)}`);
  if (f.from !== undefined) {
    const from = at(f.from);
    where.push(
      `seq >= (SELECT seq FROM ledger_entries WHERE account_id = ?1 AND created_at >= ${from} ORDER BY created_at, seq LIMIT 1)`,
      `created_at >= ${from}`,
    );
  }
  if (f.to !== undefined) {
    const to = at(f.to);
    where.push(
      `seq <= (SELECT seq FROM ledger_entries WHERE account_id = ?1 AND created_at <= ${to} ORDER BY created_at DESC, seq DESC LIMIT 1)`,
      `created_at <= ${to}`,
    );
  }
  const sql = `SELECT seq, kind, amount, balance_after, operation, quantities, hold_id, lot_id, reserved, description,
    metadata, created_at FROM ledger_entries WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT ${at(f.limit)}`;
  return { sql, params };
}

export async function listEntries(db: D1Database, f: EntryFilter): Promise<EntryRow[]> {
  const { sql, params } = entriesQuery(f);
  return (await db.prepare(sql).bind(...params).all<EntryRow>()).results;
}

const parse = (text: string | null) => (text === null ? null : (JSON.parse(text) as Record<string, unknown>));

/** An entry as API.md shows it. */
export function entryView(accountId: string, r: EntryRow) {
  return {
    id: entryId(accountId, r.seq),
    kind: r.kind,
    amount: r.amount,
    balance_after: r.balance_after,
    operation: r.operation,
    quantities: parse(r.quantities) as Record<string, number> | null,
    hold_id: r.hold_id,
    lot_id: r.lot_id,
    reserved: r.reserved,
    description: r.description,
    metadata: parse(r.metadata),
    created_at: new Date(r.created_at).toISOString(),
  };
}
