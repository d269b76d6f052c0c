// Ships what the object recorded to D1: journal entries, events and the directory row. Each statement
// carries a whole batch as one JSON parameter (D1 caps a statement at 100 bound parameters), and every
// insert is INSERT OR IGNORE by (account_id, seq), so shipping the same rows twice is harmless and no
// other account's row can ever be mistaken for one of ours.

import type { AccountRecord, EventRow, JournalRow } from "./store";

const INSERT_ENTRIES = `
INSERT OR IGNORE INTO ledger_entries (account_id, seq, kind, amount, balance_after, operation, quantities,
  hold_id, lot_id, reserved, description, metadata, created_at)
SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,
  value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11
FROM json_each(?2)`;

const INSERT_EVENTS = `
INSERT OR IGNORE INTO account_events (account_id, seq, type, data, created_at)
SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?2)`;

const UPSERT_DIRECTORY = `
INSERT INTO accounts (id, name, email, metadata, time_zone, balance, debt, is_low, next_expiry_at, last_seq, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, metadata = excluded.metadata,
  time_zone = excluded.time_zone, balance = excluded.balance, debt = excluded.debt, is_low = excluded.is_low,
  next_expiry_at = excluded.next_expiry_at, last_seq = excluded.last_seq, updated_at = excluded.updated_at
WHERE excluded.updated_at >= accounts.updated_at`;

/** A JSON batch stays well under D1's statement size limits. */
const MAX_BATCH_CHARS = 400_000;

export interface DirectoryRow {
  balance: number;
  nextExpiryAt: number | null;
  lastSeq: number;
  /** When this copy was taken; an older copy never overwrites a newer one. */
  updatedAt: number;
}

const text = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

function chunks(rows: unknown[][]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const row of rows) {
    const encoded = JSON.stringify(row);
    if (size + encoded.length > MAX_BATCH_CHARS && current.length) {
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

export async function shipToD1(
  db: D1Database,
  account: AccountRecord,
  entries: JournalRow[],
  events: EventRow[],
  directory: DirectoryRow | null,
): Promise<void> {
  const statements: D1PreparedStatement[] = [];
  const entryRows = entries.map((e) => [
    e.seq,
    e.kind,
    e.amount,
    e.balanceAfter,
    e.operation,
    text(e.quantities),
    e.holdId,
    e.lotId,
    e.reserved,
    e.description,
    text(e.metadata),
    e.createdAt,
  ]);
  for (const batch of chunks(entryRows)) statements.push(db.prepare(INSERT_ENTRIES).bind(account.id, batch));
  const eventRows = events.map((ev) => [ev.seq, ev.type, JSON.stringify(ev.data), ev.createdAt]);
  for (const batch of chunks(eventRows)) statements.push(db.prepare(INSERT_EVENTS).bind(account.id, batch));
  if (directory) {
    statements.push(
      db
        .prepare(UPSERT_DIRECTORY)
        .bind(
          account.id,
          account.name,
          account.email,
          text(account.metadata),
          account.timeZone,
          directory.balance,
          account.debt,
          account.isLow ? 1 : 0,
          directory.nextExpiryAt,
          directory.lastSeq,
          account.createdAt,
          directory.updatedAt,
        ),
    );
  }
  if (statements.length) await db.batch(statements);
}
