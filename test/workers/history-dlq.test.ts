import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { HistoryMessage } from "../../workers/queue/history-message";
import { handleQueue, HISTORY_DEAD_LETTER_QUEUE } from "../../workers/queue/index";
import { countingEnv, delivery, historyBody, realEnv } from "./history-doubles";
import { eventually } from "./helpers";

// What the history consumer can never write ends in history_dead_letters (main database): through
// the real local Queue (the consumer's max_retries, then the dead-letter queue's consumer), and with the
// dead-letter handler driven directly.

interface DeadLetter {
  message_id: string;
  account_id: string;
  shard: string;
  first_seq: number | null;
  last_seq: number | null;
  first_event_seq: number | null;
  last_event_seq: number | null;
  attempts: number;
  body: string;
  resolved_at: number | null;
}

const deadLetters = async (accounts: readonly string[]) =>
  (
    await realEnv.DB.prepare("SELECT * FROM history_dead_letters WHERE account_id IN (SELECT value FROM json_each(?1)) ORDER BY account_id, message_id")
      .bind(JSON.stringify(accounts))
      .all<DeadLetter>()
  ).results;

/**
 * The real path takes 11 deliveries (max_retries 10, the tests' retry delay 0, up to 0.25 s each to fill
 * a batch) and then up to 5 s for the dead-letter queue's batch: about 11 s on an idle machine. Polled,
 * with a deadline that leaves room for a loaded one.
 */
const DEAD_LETTER_DEADLINE_MS = 25_000;

describe("a history message the consumer can never write", () => {
  it("reaches history_dead_letters through the real Queue after the consumer's retries", async () => {
    // A shard no binding answers to (the consumer fails it every time), and a body that is not a
    // history message at all.
    const unwritable = historyBody("dlq-no-shard", "NO_SUCH_SHARD", { directory: false });
    const malformed = { v: 1, account: { id: "dlq-malformed" }, entries: "not rows" };
    await realEnv.HISTORY.send(unwritable, { contentType: "json" });
    await realEnv.HISTORY.send(malformed as unknown as HistoryMessage, { contentType: "json" });

    const rows = await eventually(() => deadLetters(["dlq-no-shard", "dlq-malformed"]), (r) => r.length === 2, DEAD_LETTER_DEADLINE_MS);
    expect(rows).toHaveLength(2);
    const [bad, noShard] = rows as [DeadLetter, DeadLetter];
    expect(noShard).toMatchObject({
      account_id: "dlq-no-shard",
      shard: "NO_SUCH_SHARD",
      first_seq: 1,
      last_seq: 4,
      first_event_seq: 1,
      last_event_seq: 1,
      resolved_at: null,
    });
    expect(JSON.parse(noShard.body)).toEqual(unwritable);
    expect(bad).toMatchObject({ account_id: "dlq-malformed", shard: "", first_seq: null, last_seq: null, resolved_at: null });
    expect(JSON.parse(bad.body)).toEqual(malformed);
    // `attempts` is the dead-letter queue's own delivery count: a message moved there starts again
    // at 1, so it does not tell how often the history consumer tried (that was max_retries + 1).
    for (const row of rows) expect(row.attempts).toBeGreaterThanOrEqual(1);
    // Nothing of the unwritable message reached any database.
    for (const db of [realEnv.DB, (realEnv as unknown as Record<string, D1Database>).HISTORY_1!, (realEnv as unknown as Record<string, D1Database>).HISTORY_2!]) {
      const n = await db.prepare("SELECT count(*) AS n FROM ledger_entries WHERE account_id = 'dlq-no-shard'").first<{ n: number }>();
      expect(n?.n).toBe(0);
    }
  });
});

describe("the dead-letter queue's consumer", () => {
  it("records a row per message, whatever its body, and acks them all", async () => {
    const valid = historyBody("dlq-direct-valid", "HISTORY_2");
    const messages = [
      delivery("dl-valid", valid, 3),
      delivery("dl-malformed", { account: { id: "dlq-direct-malformed" }, note: "no version" }),
      delivery("dl-text", "just text"),
      delivery("dl-null", null),
    ];
    const run = async () => {
      const batch = createMessageBatch<unknown>(HISTORY_DEAD_LETTER_QUEUE, messages);
      await handleQueue(batch, realEnv);
      return getQueueResult(batch, createExecutionContext());
    };
    const result = await run();
    expect(result.ackAll).toBe(true);
    expect(result.retryMessages).toEqual([]);

    const read = async () =>
      (
        await realEnv.DB.prepare("SELECT * FROM history_dead_letters WHERE message_id LIKE 'dl-%' ORDER BY message_id").all<DeadLetter>()
      ).results.map(({ message_id, account_id, shard, first_seq, last_seq, first_event_seq, last_event_seq, attempts, body }) => ({
        message_id,
        account_id,
        shard,
        seqs: [first_seq, last_seq, first_event_seq, last_event_seq],
        attempts,
        body: JSON.parse(body) as unknown,
      }));
    const recorded = await read();
    expect(recorded).toEqual([
      { message_id: "dl-malformed", account_id: "dlq-direct-malformed", shard: "", seqs: [null, null, null, null], attempts: 1, body: messages[1]!.body },
      { message_id: "dl-null", account_id: "", shard: "", seqs: [null, null, null, null], attempts: 1, body: null },
      { message_id: "dl-text", account_id: "", shard: "", seqs: [null, null, null, null], attempts: 1, body: "just text" },
      { message_id: "dl-valid", account_id: "dlq-direct-valid", shard: "HISTORY_2", seqs: [1, 4, 1, 1], attempts: 3, body: valid },
    ]);

    // The dead-letter queue delivering the batch again records nothing twice.
    expect((await run()).ackAll).toBe(true);
    expect(await read()).toEqual(recorded);
  });
});

describe("the dead-letter queue's consumer while the main database is down", () => {
  it("keeps the messages (retries them with a pause) and records them once it is back", async () => {
    const messages = [delivery("dl-down-1", historyBody("dlq-down", "HISTORY_1"), 2)];
    const down = countingEnv({ failing: ["DB"] });
    const batch = createMessageBatch<unknown>(HISTORY_DEAD_LETTER_QUEUE, messages);
    await handleQueue(batch, down.env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(true);
    const none = await realEnv.DB.prepare("SELECT count(*) AS n FROM history_dead_letters WHERE message_id = 'dl-down-1'").first<{ n: number }>();
    expect(none?.n).toBe(0);

    const again = createMessageBatch<unknown>(HISTORY_DEAD_LETTER_QUEUE, messages);
    await handleQueue(again, realEnv);
    expect((await getQueueResult(again, createExecutionContext())).ackAll).toBe(true);
    const row = await realEnv.DB.prepare("SELECT account_id, shard FROM history_dead_letters WHERE message_id = 'dl-down-1'").first();
    expect(row).toEqual({ account_id: "dlq-down", shard: "HISTORY_1" });
  });
});
