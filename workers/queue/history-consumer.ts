// The `history` Queue's consumer: a batch holds up to 100 flushes from any accounts. Their rows are
// written in one D1 batch per shard (plus one for the directory in the main database, folded into the
// main database's shard batch when it is a shard), all at once. A message is acknowledged only after
// every write it needs has committed; the others are retried with a growing delay, and after the
// consumer's max_retries the Queue moves them to the dead-letter queue (workers/queue/dead-letters.ts).
// Once written, the events are fanned out to the outgoing webhook endpoints (workers/webhooks/).

import { MAIN_SHARD, shardDb } from "../db/shards";
import type { Env } from "../env";
import { HistoryMessage } from "./history-message";
import { fanOut } from "../webhooks/fan-out";
import { directoryStatements, historyLagStatement, shardStatements } from "./history-writes";

/** The longest pause between two attempts; max_retries (10) attempts then span about a quarter hour. */
const MAX_RETRY_DELAY_SECONDS = 300;

export interface HistoryBatchOutcome {
  written: number;
  retried: number;
  /** D1 batch() calls made, one per database touched. */
  d1Batches: number;
}

export async function consumeHistory(batch: MessageBatch<unknown>, env: Env): Promise<HistoryBatchOutcome> {
  const valid: { message: Message<unknown>; body: HistoryMessage }[] = [];
  const failed = new Set<Message<unknown>>();
  for (const message of batch.messages) {
    const parsed = HistoryMessage.safeParse(message.body);
    if (parsed.success) valid.push({ message, body: parsed.data });
    else {
      // Never valid, however often it is tried: it goes to the dead-letter queue for a person to see.
      console.error(`history: message ${message.id} is not a history message`, parsed.error.issues.slice(0, 3));
      failed.add(message);
    }
  }

  const byShard = new Map<string, typeof valid>();
  for (const item of valid) {
    const group = byShard.get(item.body.shard) ?? [];
    group.push(item);
    byShard.set(item.body.shard, group);
  }

  // One write per database: the statements it makes and the messages that need it. The main
  // database's write carries every directory row, and its own shard rows when it is a shard.
  const writes = new Map<string, { db: D1Database; statements: D1PreparedStatement[]; items: typeof valid }>();
  const writeTo = (database: string, db: D1Database) => {
    let write = writes.get(database);
    if (!write) writes.set(database, (write = { db, statements: [], items: [] }));
    return write;
  };
  for (const [shard, items] of byShard) {
    let db: D1Database;
    try {
      db = shardDb(env, shard);
    } catch (err) {
      // A shard that is not bound fails its own messages only; they reach the dead-letter queue.
      console.error(`history: ${items.length} message(s) for an unusable shard`, err);
      for (const item of items) failed.add(item.message);
      continue;
    }
    const write = writeTo(shard, db);
    write.statements.push(...shardStatements(db, items.map((i) => i.body)));
    write.items.push(...items);
  }
  // Not for a shard that is not bound: the directory would send readers to a database they cannot read.
  const withDirectory = valid.filter((item) => item.body.directory !== null && !failed.has(item.message));
  if (withDirectory.length) {
    const main = writeTo(MAIN_SHARD, env.DB);
    main.statements.push(...directoryStatements(env.DB, withDirectory.map((i) => i.body)));
    const lag = historyLagStatement(env.DB, withDirectory.map((i) => i.body), Date.now());
    if (lag) main.statements.push(lag);
    main.items.push(...withDirectory);
  }
  // A flush that only changed the profile has no rows for its shard: D1 refuses an empty batch.
  const nonEmpty = [...writes].filter(([, w]) => w.statements.length > 0);
  const results = await Promise.allSettled(nonEmpty.map(([, w]) => w.db.batch(w.statements)));
  results.forEach((result, i) => {
    if (result.status === "fulfilled") return;
    const [database, write] = nonEmpty[i] as [string, { items: typeof valid }];
    console.error(`history: writing ${write.items.length} message(s) to ${database} failed`, result.reason);
    for (const item of write.items) failed.add(item.message);
  });

  // The events now in D1 go out to the webhook endpoints that want them. If that fails, the messages
  // are retried: their writes are idempotent, and so is the fan-out.
  const written = valid.filter((item) => !failed.has(item.message) && item.body.events.length > 0);
  if (written.length) {
    try {
      await fanOut(env, written.map((item) => ({ accountId: item.body.account.id, events: item.body.events })), Date.now());
    } catch (err) {
      console.error(`history: fanning ${written.length} message(s) out to webhook endpoints failed`, err);
      for (const item of written) failed.add(item.message);
    }
  }

  const base = retryBaseSeconds(env.HISTORY_RETRY_BASE_SECONDS);
  for (const message of batch.messages) {
    if (failed.has(message)) message.retry({ delaySeconds: retryDelaySeconds(base, message.attempts) });
    else message.ack();
  }
  return { written: batch.messages.length - failed.size, retried: failed.size, d1Batches: nonEmpty.length };
}

/** base, 2·base, 4·base … capped: D1 that is down for a while is not hammered. */
export function retryDelaySeconds(base: number, attempts: number): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, base * 2 ** Math.max(0, attempts - 1));
}

export function retryBaseSeconds(setting: string | undefined): number {
  if (setting === undefined || setting === "") return 2;
  const value = Number(setting);
  if (!Number.isInteger(value) || value < 0 || value > MAX_RETRY_DELAY_SECONDS) {
    throw new Error(`HISTORY_RETRY_BASE_SECONDS must be a whole number of seconds from 0 to ${MAX_RETRY_DELAY_SECONDS}, not '${setting}'`);
  }
  return value;
}
