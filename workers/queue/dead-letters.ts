// The dead-letter queue's consumer: a history message the Queue gave up on (D1 refused it through every
// retry, its shard is not bound, or it is not a history message at all) is recorded in the main
// database with what it covered. The object still holds every entry; reconciliation re-ships the
// accounts listed here and marks them resolved.

import type { Env } from "../env";
import { retryBaseSeconds, retryDelaySeconds } from "./history-consumer";
import { HistoryMessage } from "./history-message";

const RECORD = `
INSERT OR IGNORE INTO history_dead_letters (message_id, account_id, shard, first_seq, last_seq, first_event_seq,
  last_event_seq, attempts, body, received_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)`;

/** What the body says it covers, read leniently: a malformed body is recorded too. */
function covering(body: unknown) {
  const parsed = HistoryMessage.safeParse(body);
  if (!parsed.success) {
    const account = (body as { account?: { id?: unknown } } | null)?.account?.id;
    return { accountId: typeof account === "string" ? account : "", shard: "", entries: [], events: [] };
  }
  const m = parsed.data;
  return { accountId: m.account.id, shard: m.shard, entries: m.entries.map((r) => r[0]), events: m.events.map((r) => r[0]) };
}

export async function recordDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const now = Date.now();
  const statements = batch.messages.map((message) => {
    const c = covering(message.body);
    return env.DB.prepare(RECORD).bind(
      message.id,
      c.accountId,
      c.shard,
      c.entries[0] ?? null,
      c.entries.at(-1) ?? null,
      c.events[0] ?? null,
      c.events.at(-1) ?? null,
      message.attempts,
      JSON.stringify(message.body) ?? "null",
      now,
    );
  });
  console.error(`history: ${batch.messages.length} message(s) dead-lettered; reconciliation re-ships their accounts`);
  try {
    if (statements.length) await env.DB.batch(statements);
  } catch (err) {
    // The main database is down too. Keep the messages as long as the dead-letter queue allows, with
    // a growing pause (INSERT OR IGNORE makes the retry safe); the objects still hold every row.
    console.error("history: recording dead letters failed", err);
    const attempts = Math.max(...batch.messages.map((m) => m.attempts));
    batch.retryAll({ delaySeconds: retryDelaySeconds(retryBaseSeconds(env.HISTORY_RETRY_BASE_SECONDS), attempts) });
    return;
  }
  batch.ackAll();
}
