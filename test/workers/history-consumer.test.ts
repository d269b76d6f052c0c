import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { shardFor } from "../../workers/db/shards";
import { consumeHistory } from "../../workers/queue/history-consumer";
import type { HistoryMessage } from "../../workers/queue/history-message";
import { HISTORY_QUEUE } from "../../workers/queue/index";
import { countingEnv, d1, delivery, historyBody, realEnv, rowsOf, T0, T0_DAY, type D1Name } from "./history-doubles";

// The history consumer, driven directly with message batches built as the Queue would deliver them.
// Its D1 bindings are the real local databases, wrapped to count (or refuse) batch() calls.

const SHARDS = ["HISTORY_1", "HISTORY_2"] as const;
const other = (shard: string) => (shard === "HISTORY_1" ? "HISTORY_2" : "HISTORY_1");

/** n accounts spread over both shards as the objects would spread them. */
function accounts(prefix: string, n: number) {
  return Array.from({ length: n }, (_, i) => {
    const id = `${prefix}-${i}`;
    return { id, shard: shardFor(id, SHARDS) as D1Name };
  });
}

async function deliver(messages: ReturnType<typeof delivery>[], env = countingEnv()) {
  const batch = createMessageBatch<unknown>(HISTORY_QUEUE, messages);
  const outcome = await consumeHistory(batch, env.env);
  const result = await getQueueResult(batch, createExecutionContext());
  return { outcome, result, batches: env.batches };
}

const count = async (db: D1Name, table: string, ids: readonly string[]) =>
  (await rowsOf(d1(db), table, ids, "account_id")).length;

/** Everything D1 holds for these accounts, in every database. */
async function snapshot(ids: readonly string[]) {
  const out: Record<string, unknown> = {};
  for (const db of ["DB", ...SHARDS] as const) {
    const database = d1(db);
    out[db] = {
      entries: await rowsOf(database, "ledger_entries", ids, "account_id, seq"),
      events: await rowsOf(database, "account_events", ids, "account_id, seq"),
      usage: await rowsOf(database, "usage_daily", ids, "account_id, day, operation"),
    };
  }
  out.directory = (await realEnv.DB.prepare("SELECT * FROM accounts WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id").bind(JSON.stringify(ids)).all()).results;
  return out;
}

describe("a batch of 50 accounts' flushes", () => {
  it("is written with one D1 batch per shard plus one for the directory, every message acked", async () => {
    const list = accounts("fifty", 50);
    const onShard = (shard: string) => list.filter((a) => a.shard === shard);
    expect(onShard("HISTORY_1").length).toBeGreaterThan(10);
    expect(onShard("HISTORY_2").length).toBeGreaterThan(10);

    const { outcome, result, batches } = await deliver(list.map((a, i) => delivery(`m-${i}`, historyBody(a.id, a.shard))));

    expect(outcome).toEqual({ written: 50, retried: 0, d1Batches: 3 });
    expect(batches).toEqual({ DB: 1, HISTORY_1: 1, HISTORY_2: 1 });
    expect(result.retryMessages).toEqual([]);
    expect([...result.explicitAcks].sort()).toEqual(list.map((_, i) => `m-${i}`).sort());

    for (const shard of SHARDS) {
      const mine = onShard(shard).map((a) => a.id);
      expect(await count(shard, "ledger_entries", mine)).toBe(4 * mine.length);
      expect(await count(shard, "account_events", mine)).toBe(mine.length);
      expect(await count(shard, "usage_daily", mine)).toBe(2 * mine.length);
      // … and nothing of them in the other shard, nor in the main database.
      for (const elsewhere of [other(shard), "DB"] as const) {
        expect(await count(elsewhere as D1Name, "ledger_entries", mine)).toBe(0);
        expect(await count(elsewhere as D1Name, "account_events", mine)).toBe(0);
        expect(await count(elsewhere as D1Name, "usage_daily", mine)).toBe(0);
      }
    }
    const directory = await realEnv.DB.prepare("SELECT id, history_shard, balance, last_seq, is_low FROM accounts WHERE id LIKE 'fifty-%'").all();
    expect(directory.results).toHaveLength(50);
    for (const a of list) {
      expect(directory.results).toContainEqual({ id: a.id, history_shard: a.shard, balance: 953, last_seq: 4, is_low: 1 });
    }
    // Every column lands where it belongs.
    const [first] = list as [{ id: string; shard: D1Name }];
    expect(await rowsOf(d1(first.shard), "ledger_entries", [first.id], "seq")).toEqual([
      { account_id: first.id, seq: 1, kind: "grant", amount: 1000, balance_after: 1000, operation: null, quantities: null, hold_id: null, lot_id: "lot_1", reserved: null, description: "welcome", metadata: null, created_at: T0 },
      { account_id: first.id, seq: 2, kind: "debit", amount: -30, balance_after: 970, operation: "chat", quantities: '{"tokens":3}', hold_id: null, lot_id: "lot_1", reserved: null, description: "first", metadata: '{"k":"v"}', created_at: T0 + 1 },
      { account_id: first.id, seq: 3, kind: "debit", amount: -12, balance_after: 958, operation: "chat", quantities: null, hold_id: null, lot_id: "lot_1", reserved: null, description: null, metadata: null, created_at: T0 + 2 },
      { account_id: first.id, seq: 4, kind: "capture", amount: -5, balance_after: 953, operation: "image", quantities: null, hold_id: "hold_1", lot_id: "lot_1", reserved: 5, description: null, metadata: null, created_at: T0 + 3 },
    ]);
    expect(await rowsOf(d1(first.shard), "account_events", [first.id], "seq")).toEqual([
      { account_id: first.id, seq: 1, type: "balance.low", data: '{"balance":953}', created_at: T0 + 3 },
    ]);
    expect(await realEnv.DB.prepare("SELECT * FROM accounts WHERE id = ?").bind(first.id).first()).toEqual({
      id: first.id, name: `Test ${first.id}`, email: null, metadata: null, time_zone: null, balance: 953, debt: 0, is_low: 1,
      next_expiry_at: null, last_seq: 4, history_shard: first.shard, created_at: T0, updated_at: T0 + 10,
      // A directory row that says nothing of due work (as messages sent before the sweep existed):
      // indexed as due at once, so the next sweep asks the object.
      due_at: 0, due_computed_at: 0, next_allowance_at: null, next_hold_expiry_at: null, sweep_claimed_by: null, sweep_claimed_until: null,
    });
    const usage = await rowsOf(d1(list[0]!.shard), "usage_daily", [list[0]!.id], "operation");
    expect(usage).toEqual([
      { account_id: list[0]!.id, day: T0_DAY, operation: "chat", count: 2, credits: 42 },
      { account_id: list[0]!.id, day: T0_DAY, operation: "image", count: 1, credits: 5 },
    ]);
  });
});

describe("the same message delivered twice", () => {
  it("changes nothing, in the same batch or in a later one: entries and daily usage are counted once", async () => {
    const list = accounts("twice", 6);
    const ids = list.map((a) => a.id);
    const bodies = list.map((a) => historyBody(a.id, a.shard));

    // Each message twice in one batch (the Queue delivers at least once).
    const first = await deliver([...bodies.map((b, i) => delivery(`a-${i}`, b)), ...bodies.map((b, i) => delivery(`b-${i}`, b))]);
    expect(first.outcome.retried).toBe(0);
    const once = await snapshot(ids);
    for (const a of list) {
      expect(await rowsOf(d1(a.shard), "usage_daily", [a.id], "operation")).toEqual([
        { account_id: a.id, day: T0_DAY, operation: "chat", count: 2, credits: 42 },
        { account_id: a.id, day: T0_DAY, operation: "image", count: 1, credits: 5 },
      ]);
      expect(await count(a.shard, "ledger_entries", [a.id])).toBe(4);
    }

    // The same messages again, in a later batch.
    const again = await deliver(bodies.map((b, i) => delivery(`a-${i}`, b, 2)));
    expect(again.outcome).toMatchObject({ written: list.length, retried: 0 });
    expect(await snapshot(ids)).toEqual(once);
  });

  it("counts only the new entries of a later flush that overlaps one already written", async () => {
    const [a] = accounts("overlap", 1) as [{ id: string; shard: D1Name }];
    const full = historyBody(a.id, a.shard);
    await deliver([delivery("o-1", full)]);
    // Entries 3 and 4 again (a piece re-sent after a lost answer) plus a new debit 5.
    const overlapping: HistoryMessage = {
      ...full,
      entries: [...full.entries.slice(2), [5, "debit", -100, 853, "chat", null, null, "lot_1", null, null, null, full.entries[3]![11] + 1]],
      directory: { ...full.directory!, balance: 853, last_seq: 5, updated_at: full.directory!.updated_at + 1 },
    };
    await deliver([delivery("o-2", overlapping)]);
    expect(await rowsOf(d1(a.shard), "usage_daily", [a.id], "operation")).toEqual([
      { account_id: a.id, day: T0_DAY, operation: "chat", count: 3, credits: 142 },
      { account_id: a.id, day: T0_DAY, operation: "image", count: 1, credits: 5 },
    ]);
    expect(await count(a.shard, "ledger_entries", [a.id])).toBe(5);
  });
});

describe("D1 failing", () => {
  it("retries exactly the messages of the shard that failed, with a growing delay, and acks the rest", async () => {
    const list = accounts("d1-fail", 10);
    const bodies = list.map((a) => historyBody(a.id, a.shard));
    const failing = list.filter((a) => a.shard === "HISTORY_2");
    expect(failing.length).toBeGreaterThan(0);
    expect(failing.length).toBeLessThan(list.length);

    // Retry delays of 2 s doubled per attempt (the tests' own setting is 0).
    const env = countingEnv({ failing: ["HISTORY_2"], vars: { HISTORY_RETRY_BASE_SECONDS: "2" } });
    const messages = bodies.map((b, i) => delivery(`f-${i}`, b, i % 2 === 0 ? 1 : 3));
    const batch = createMessageBatch<unknown>(HISTORY_QUEUE, messages);
    // getQueueResult reports which messages were retried, not their delay: record it on the way.
    const delays = new Map<string, number | undefined>();
    for (const m of batch.messages) {
      const retry = m.retry.bind(m);
      (m as { retry: Message["retry"] }).retry = (options) => {
        delays.set(m.id, options?.delaySeconds);
        retry(options);
      };
    }
    const outcome = await consumeHistory(batch, env.env);
    const result = await getQueueResult(batch, createExecutionContext());

    const failedIds = messages.filter((_, i) => list[i]!.shard === "HISTORY_2").map((m) => m.id);
    const writtenIds = messages.filter((_, i) => list[i]!.shard === "HISTORY_1").map((m) => m.id);
    expect(outcome).toEqual({ written: writtenIds.length, retried: failedIds.length, d1Batches: 3 });
    expect(env.batches).toEqual({ DB: 1, HISTORY_1: 1, HISTORY_2: 1 });
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId).sort()).toEqual([...failedIds].sort());
    expect([...result.explicitAcks].sort()).toEqual([...writtenIds].sort());
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(false);
    for (const m of messages) {
      if (failedIds.includes(m.id)) expect(delays.get(m.id)).toBe(m.attempts === 1 ? 2 : 8);
    }
    expect(await count("HISTORY_2", "ledger_entries", failing.map((a) => a.id))).toBe(0);

    // Delivered again with D1 back: written, and usage counted once.
    const again = await deliver(messages.filter((m) => failedIds.includes(m.id)).map((m) => ({ ...m, attempts: m.attempts + 1 })));
    expect(again.outcome).toEqual({ written: failedIds.length, retried: 0, d1Batches: 2 });
    expect(again.result.retryMessages).toEqual([]);
    for (const a of list) {
      expect(await count(a.shard, "ledger_entries", [a.id])).toBe(4);
      expect(await rowsOf(d1(a.shard), "usage_daily", [a.id], "operation")).toEqual([
        { account_id: a.id, day: T0_DAY, operation: "chat", count: 2, credits: 42 },
        { account_id: a.id, day: T0_DAY, operation: "image", count: 1, credits: 5 },
      ]);
    }
  });

  it("after a batch that committed but whose answer was lost, the retry counts nothing twice", async () => {
    const list = accounts("lost-answer", 6);
    const ids = list.map((a) => a.id);
    const messages = list.map((a, i) => delivery(`l-${i}`, historyBody(a.id, a.shard)));

    const first = await deliver(messages, countingEnv({ failing: ["HISTORY_1", "HISTORY_2", "DB"], mode: "after" }));
    expect(first.outcome).toMatchObject({ written: 0, retried: messages.length });
    expect(first.result.retryMessages).toHaveLength(messages.length);
    const committed = await snapshot(ids);

    const retry = await deliver(messages.map((m) => ({ ...m, attempts: 2 })));
    expect(retry.outcome).toMatchObject({ written: messages.length, retried: 0 });
    expect(await snapshot(ids)).toEqual(committed);
    for (const a of list) {
      expect(await rowsOf(d1(a.shard), "usage_daily", [a.id], "operation")).toEqual([
        { account_id: a.id, day: T0_DAY, operation: "chat", count: 2, credits: 42 },
        { account_id: a.id, day: T0_DAY, operation: "image", count: 1, credits: 5 },
      ]);
    }
  });
});

describe("a message that is not a history message", () => {
  it("is retried (on its way to the dead-letter queue), never acked, and does not hold up the others", async () => {
    const good = accounts("mixed", 2);
    const valid = historyBody("mixed-x", "HISTORY_1");
    const messages = [
      ...good.map((a, i) => delivery(`good-${i}`, historyBody(a.id, a.shard))),
      delivery("bad-shape", { hello: "world" }),
      delivery("bad-version", { ...valid, v: 2 }),
      delivery("bad-extra-key", { ...valid, extra: true }),
      delivery("bad-text", "not json at all"),
      delivery("bad-null", null),
    ];
    const { outcome, result } = await deliver(messages);
    const bad = messages.filter((m) => m.id.startsWith("bad-")).map((m) => m.id);
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId).sort()).toEqual([...bad].sort());
    expect([...result.explicitAcks].sort()).toEqual(["good-0", "good-1"]);
    expect(outcome).toMatchObject({ written: 2, retried: bad.length });
    expect(await count("HISTORY_1", "ledger_entries", ["mixed-x"])).toBe(0);
  });
});

describe("a message for a shard that is not bound", () => {
  it("is retried and writes no directory row that would send readers to a database they cannot read", async () => {
    const ok = historyBody("unbound-ok", "HISTORY_1");
    const lost = historyBody("unbound-lost", "NO_SUCH_SHARD");
    const { outcome, result } = await deliver([delivery("unbound-ok", ok), delivery("unbound-lost", lost)]);
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId)).toEqual(["unbound-lost"]);
    expect([...result.explicitAcks]).toEqual(["unbound-ok"]);
    expect(outcome).toMatchObject({ written: 1, retried: 1 });
    const directory = await realEnv.DB.prepare("SELECT id, history_shard FROM accounts WHERE id LIKE 'unbound-%' ORDER BY id").all();
    expect(directory.results).toEqual([{ id: "unbound-ok", history_shard: "HISTORY_1" }]);
  });
});

describe("a capture of 0", () => {
  it("counts as an operation run, for no credits", async () => {
    const body = historyBody("zero-capture", "HISTORY_2", { directory: false });
    const zero: HistoryMessage = { ...body, entries: [[1, "capture", 0, 0, "image", null, "hold_0", null, 5, null, null, T0]], events: [] };
    await deliver([delivery("zero-capture", zero)]);
    const usage = await rowsOf(d1("HISTORY_2"), "usage_daily", ["zero-capture"], "account_id, day, operation");
    expect(usage).toEqual([{ account_id: "zero-capture", day: T0_DAY, operation: "image", count: 1, credits: 0 }]);
  });
});

describe("the due-work index in the directory row", () => {
  const withDue = (id: string, shard: string, updatedAt: number, dueAt: number | null): HistoryMessage => {
    const body = historyBody(id, shard);
    return { ...body, directory: { ...body.directory!, updated_at: updatedAt, due_at: dueAt, next_allowance_at: dueAt, next_hold_expiry_at: null } };
  };
  const dueOf = (id: string) => realEnv.DB.prepare("SELECT due_at, due_computed_at, next_allowance_at FROM accounts WHERE id = ?").bind(id).first();

  it("takes when work is next due from what the object ships, and never lets an older copy overwrite a newer one", async () => {
    const [a] = accounts("due-index", 1);
    await deliver([delivery("due-1", withDue(a!.id, a!.shard, T0 + 10, T0 + 5000))]);
    expect(await dueOf(a!.id)).toEqual({ due_at: T0 + 5000, due_computed_at: T0 + 10, next_allowance_at: T0 + 5000 });

    // The sweep asked the object later (at T0 + 30) and wrote its answer: nothing is due.
    await realEnv.DB.prepare("UPDATE accounts SET due_at = NULL, next_allowance_at = NULL, due_computed_at = ? WHERE id = ?").bind(T0 + 30, a!.id).run();
    // A flush sent at T0 + 20, delivered after that, updates the directory but not the older due times.
    await deliver([delivery("due-2", withDue(a!.id, a!.shard, T0 + 20, T0 + 5000))]);
    expect(await dueOf(a!.id)).toEqual({ due_at: null, due_computed_at: T0 + 30, next_allowance_at: null });
    expect(await realEnv.DB.prepare("SELECT updated_at FROM accounts WHERE id = ?").bind(a!.id).first("updated_at")).toBe(T0 + 20);

    // A newer flush wins again.
    await deliver([delivery("due-3", withDue(a!.id, a!.shard, T0 + 40, T0 + 9000))]);
    expect(await dueOf(a!.id)).toEqual({ due_at: T0 + 9000, due_computed_at: T0 + 40, next_allowance_at: T0 + 9000 });
  });
});
