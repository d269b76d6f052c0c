// The D1 statements one consumer batch makes: per shard, the day's usage, the entries and the events of
// every account in the batch; in the main database, the directory rows. Each statement carries its
// rows as one JSON parameter (D1 caps a statement at 100 bound parameters).
//
// Usage must count an entry once however often it is delivered: the usage statement runs first in the
// shard's batch (one transaction) and counts only rows whose entry is not in D1 yet; the entry insert
// that follows then makes the same row count as present for any later delivery.

import { dayKey } from "../../durable-objects/ledger/limits";
import type { EntryRow, EventRow, HistoryMessage } from "./history-message";

const ADD_USAGE = `
INSERT INTO usage_daily (account_id, day, operation, count, credits)
SELECT r.value ->> 0, r.value ->> 2, r.value ->> 3, count(*), sum(r.value ->> 4)
FROM json_each(?1) AS r
WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.account_id = r.value ->> 0 AND e.seq = r.value ->> 1)
GROUP BY 1, 2, 3
ON CONFLICT (account_id, day, operation) DO UPDATE SET
  count = usage_daily.count + excluded.count, credits = usage_daily.credits + excluded.credits`;

const INSERT_ENTRIES = `
INSERT OR IGNORE INTO ledger_entries (account_id, seq, kind, amount, balance_after, operation, quantities,
  hold_id, lot_id, reserved, description, metadata, created_at)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
  value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12
FROM json_each(?1)`;

const INSERT_EVENTS = `
INSERT OR IGNORE INTO account_events (account_id, seq, type, data, created_at)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?1)`;

// The due-work columns follow their own clock (due_computed_at): the sweep writes them too, straight
// from the object's answer, and whichever copy was computed last wins. A message from before the
// index existed (value 13 = 0) leaves them as they are.
const UPSERT_DIRECTORY = `
INSERT INTO accounts (id, name, email, metadata, time_zone, balance, debt, is_low, next_expiry_at, last_seq,
  history_shard, created_at, updated_at, due_at, due_computed_at, next_allowance_at, next_hold_expiry_at)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7,
  value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12,
  CASE WHEN value ->> 13 THEN value ->> 14 ELSE 0 END, CASE WHEN value ->> 13 THEN value ->> 12 ELSE 0 END,
  value ->> 15, value ->> 16
FROM json_each(?1) WHERE true
ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, metadata = excluded.metadata,
  time_zone = excluded.time_zone, balance = excluded.balance, debt = excluded.debt, is_low = excluded.is_low,
  next_expiry_at = excluded.next_expiry_at, last_seq = excluded.last_seq, history_shard = excluded.history_shard,
  updated_at = excluded.updated_at,
  due_at = CASE WHEN excluded.due_computed_at >= accounts.due_computed_at AND excluded.due_computed_at > 0 THEN excluded.due_at ELSE accounts.due_at END,
  next_allowance_at = CASE WHEN excluded.due_computed_at >= accounts.due_computed_at AND excluded.due_computed_at > 0 THEN excluded.next_allowance_at ELSE accounts.next_allowance_at END,
  next_hold_expiry_at = CASE WHEN excluded.due_computed_at >= accounts.due_computed_at AND excluded.due_computed_at > 0 THEN excluded.next_hold_expiry_at ELSE accounts.next_hold_expiry_at END,
  due_computed_at = max(accounts.due_computed_at, excluded.due_computed_at)
WHERE excluded.updated_at >= accounts.updated_at`;

/** Kinds that spend credits on an operation: what /usage adds up. */
const SPENDING = new Set(["debit", "capture"]);

/** A JSON parameter stays well under D1's 2 MB per value. */
const MAX_PARAM_CHARS = 400_000;

function jsonChunks(rows: unknown[][]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const row of rows) {
    const encoded = JSON.stringify(row);
    if (size + encoded.length > MAX_PARAM_CHARS && current.length) {
      out.push(`[${current.join(",")}]`);
      current = [];
      size = 0;
    }
    current.push(encoded);
    size += encoded.length + 1;
  }
  if (current.length) out.push(`[${current.join(",")}]`);
  return out;
}

/** Statements for one shard: usage, then entries, then events, for all the given messages' accounts. */
export function shardStatements(db: D1Database, messages: readonly HistoryMessage[]): D1PreparedStatement[] {
  // A row delivered twice in one batch is written (and counted) once.
  const entries = new Map<string, [string, string | null, EntryRow]>();
  const events = new Map<string, [string, EventRow]>();
  for (const m of messages) {
    for (const row of m.entries) entries.set(`${m.account.id}\u0000${row[0]}`, [m.account.id, m.account.time_zone, row]);
    for (const row of m.events) events.set(`${m.account.id}\u0000${row[0]}`, [m.account.id, row]);
  }
  const usageRows: unknown[][] = [];
  const entryRows: unknown[][] = [];
  for (const [accountId, timeZone, row] of entries.values()) {
    entryRows.push([accountId, ...row]);
    const [seq, kind, amount, , operation, , , , , , , createdAt] = row;
    // A capture of 0 still ran an operation: it counts, for no credits.
    if (SPENDING.has(kind)) usageRows.push([accountId, seq, dayKey(createdAt, timeZone), operation ?? "", -amount]);
  }
  const eventRows = [...events.values()].map(([accountId, row]) => [accountId, ...row]);
  return [
    ...jsonChunks(usageRows).map((rows) => db.prepare(ADD_USAGE).bind(rows)),
    ...jsonChunks(entryRows).map((rows) => db.prepare(INSERT_ENTRIES).bind(rows)),
    ...jsonChunks(eventRows).map((rows) => db.prepare(INSERT_EVENTS).bind(rows)),
  ];
}

/** The directory rows of the given messages (the newest per account), for the main database. */
export function directoryStatements(db: D1Database, messages: readonly HistoryMessage[]): D1PreparedStatement[] {
  const newest = new Map<string, HistoryMessage>();
  for (const m of messages) {
    const seen = newest.get(m.account.id);
    if (m.directory && (!seen?.directory || m.directory.updated_at >= seen.directory.updated_at)) newest.set(m.account.id, m);
  }
  const rows = [...newest.values()].map(({ account, shard, directory: d }) => {
    const row = d as NonNullable<HistoryMessage["directory"]>;
    return [
      account.id,
      row.name,
      row.email,
      row.metadata,
      account.time_zone,
      row.balance,
      row.debt,
      row.is_low ? 1 : 0,
      row.next_expiry_at,
      row.last_seq,
      shard,
      row.created_at,
      row.updated_at,
      row.due_at === undefined ? 0 : 1,
      row.due_at ?? null,
      row.next_allowance_at ?? null,
      row.next_hold_expiry_at ?? null,
    ];
  });
  return jsonChunks(rows).map((json) => db.prepare(UPSERT_DIRECTORY).bind(json));
}

/**
 * What the admin health view reports as history lag: how long the oldest flush in this batch took from
 * its object to this write (the directory row is stamped when the object sends it).
 */
export function historyLagStatement(db: D1Database, messages: readonly HistoryMessage[], now: number): D1PreparedStatement | null {
  let oldest: number | null = null;
  for (const m of messages) if (m.directory && (oldest === null || m.directory.updated_at < oldest)) oldest = m.directory.updated_at;
  if (oldest === null) return null;
  const value = JSON.stringify({ lag_ms: Math.max(0, now - oldest), messages: messages.length });
  return db
    .prepare("INSERT INTO system_state (key, value, updated_at) VALUES ('history_lag', ?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
    .bind(value, now);
}
