// What an account's object sends to the `history` Queue when it flushes: its new journal entries and
// events and, on the last piece, the directory row. Rows are positional arrays (a flush of a thousand
// entries is then ~200 KB, not ~400 KB); JSON-valued columns travel as the text D1 stores.
//
// A Queue message holds at most 128 KB, so a large flush is cut into pieces that each fit. Pieces are
// independent: each inserts its own rows (INSERT OR IGNORE by (account_id, seq)), in any order, any
// number of times.

import { z } from "zod";

/** [seq, kind, amount, balance_after, operation, quantities, hold_id, lot_id, reserved, description, metadata, created_at] */
const EntryRow = z.tuple([
  z.number().int().positive(),
  z.string(),
  z.number().int(),
  z.number().int(),
  z.string().nullable(),
  z.string().nullable(),
  z.string().nullable(),
  z.string().nullable(),
  z.number().int().nullable(),
  z.string().nullable(),
  z.string().nullable(),
  z.number().int(),
]);
export type EntryRow = z.infer<typeof EntryRow>;

/** [seq, type, data, created_at] */
const EventRow = z.tuple([z.number().int().positive(), z.string(), z.string(), z.number().int()]);
export type EventRow = z.infer<typeof EventRow>;

export const HistoryMessage = z
  .object({
    v: z.literal(1),
    /** The D1 binding that holds this account's history. */
    shard: z.string().min(1),
    account: z.object({
      id: z.string().min(1),
      /** The zone the usage rollups date these entries in. */
      time_zone: z.string().nullable(),
    }),
    entries: z.array(EntryRow),
    events: z.array(EventRow),
    /** The account's directory row as of `updated_at`; only on the last piece of a flush. */
    directory: z
      .object({
        name: z.string().nullable(),
        email: z.string().nullable(),
        metadata: z.string().nullable(),
        balance: z.number().int(),
        debt: z.number().int(),
        is_low: z.boolean(),
        next_expiry_at: z.number().int().nullable(),
        // When work next falls due by itself (the cron sweep's index). Absent from messages sent before
        // the sweep existed: the index then keeps what it had.
        due_at: z.number().int().nullable().optional(),
        next_allowance_at: z.number().int().nullable().optional(),
        next_hold_expiry_at: z.number().int().nullable().optional(),
        last_seq: z.number().int(),
        created_at: z.number().int(),
        updated_at: z.number().int(),
      })
      .nullable(),
  })
  .strict();
export type HistoryMessage = z.infer<typeof HistoryMessage>;

/** Under the Queue's 128 KB per message, with room for its own envelope. */
export const MAX_MESSAGE_BYTES = 120_000;

const utf8 = new TextEncoder();
/** A message's (or row's) size as the Queue counts it: its JSON in UTF-8. */
export const jsonBytes = (value: unknown) => utf8.encode(JSON.stringify(value)).length;

/**
 * One message when everything fits (the usual case), else pieces that each do. Entries keep their
 * order across pieces, then events; the directory row rides on the last piece.
 */
export function historyPieces(whole: HistoryMessage, maxBytes = MAX_MESSAGE_BYTES): HistoryMessage[] {
  if (jsonBytes(whole) <= maxBytes) return [whole];
  const empty = { ...whole, entries: [], events: [], directory: null };
  const room = maxBytes - jsonBytes({ ...empty, directory: whole.directory });
  const pieces: HistoryMessage[] = [];
  let piece: HistoryMessage = { ...empty, entries: [], events: [] };
  let used = 0;
  const add = (row: EntryRow | EventRow, into: "entries" | "events") => {
    const size = jsonBytes(row) + 1;
    if (size > room) throw new Error(`a history row of ${size} bytes cannot fit in one Queue message`);
    if (used + size > room) {
      pieces.push(piece);
      piece = { ...empty, entries: [], events: [] };
      used = 0;
    }
    (piece[into] as (EntryRow | EventRow)[]).push(row);
    used += size;
  };
  for (const row of whole.entries) add(row, "entries");
  for (const row of whole.events) add(row, "events");
  pieces.push({ ...piece, directory: whole.directory });
  return pieces;
}
