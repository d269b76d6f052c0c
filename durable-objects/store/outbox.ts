// Hands what the object recorded (journal entries, events, the directory row) to the `history` Queue.
// The object never writes D1 itself: at scale most accounts debit rarely, and one D1 transaction per
// account flush would make D1's single writer the limit. The Queue's consumer (workers/queue/) writes
// many accounts' rows in one D1 batch per shard.

import { historyPieces, jsonBytes, type HistoryMessage } from "../../workers/queue/history-message";
import type { DueWork } from "../ledger/expiry";
import type { AccountRecord, EventRow, JournalRow } from "./store";

export interface DirectoryRow {
  balance: number;
  /** When work next falls due by itself: the cron sweep's index (workers/cron/). */
  due: DueWork;
  lastSeq: number;
  /** When this copy was taken; an older copy never overwrites a newer one. */
  updatedAt: number;
}

/** The Queue takes at most 100 messages and 256 KB per sendBatch. */
const SEND_BATCH_MESSAGES = 100;
const SEND_BATCH_BYTES = 250_000;

const text = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

export function historyMessage(
  account: AccountRecord,
  shard: string,
  entries: JournalRow[],
  events: EventRow[],
  directory: DirectoryRow | null,
): HistoryMessage {
  return {
    v: 1,
    shard,
    account: { id: account.id, time_zone: account.timeZone },
    entries: entries.map((e) => [
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
    ]),
    events: events.map((ev) => [ev.seq, ev.type, JSON.stringify(ev.data), ev.createdAt]),
    directory: directory && {
      name: account.name,
      email: account.email,
      metadata: text(account.metadata),
      balance: directory.balance,
      debt: account.debt,
      is_low: account.isLow,
      next_expiry_at: directory.due.nextExpiryAt,
      due_at: directory.due.dueAt,
      next_allowance_at: directory.due.nextAllowanceAt,
      next_hold_expiry_at: directory.due.nextHoldExpiryAt,
      last_seq: directory.lastSeq,
      created_at: account.createdAt,
      updated_at: directory.updatedAt,
    },
  };
}

/**
 * Sends the flush; resolves once the Queue has durably accepted every piece. One message in the usual
 * case; a flush too large for one is cut into pieces sent in as few sendBatch calls as fit.
 */
export async function sendHistory(queue: Queue<HistoryMessage>, message: HistoryMessage): Promise<number> {
  const pieces = historyPieces(message);
  if (pieces.length === 1) {
    await queue.send(pieces[0] as HistoryMessage, { contentType: "json" });
    return 1;
  }
  let group: MessageSendRequest<HistoryMessage>[] = [];
  let size = 0;
  for (const piece of pieces) {
    const pieceSize = jsonBytes(piece);
    if (group.length && (group.length === SEND_BATCH_MESSAGES || size + pieceSize > SEND_BATCH_BYTES)) {
      await queue.sendBatch(group);
      group = [];
      size = 0;
    }
    group.push({ body: piece, contentType: "json" });
    size += pieceSize;
  }
  await queue.sendBatch(group);
  return pieces.length;
}
