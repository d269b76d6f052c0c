import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { HistoryMessage, historyPieces, MAX_MESSAGE_BYTES, type EntryRow } from "../../workers/queue/history-message";
import { forbidden, realEnv, recordingQueue, swapObjectEnv, utf8Bytes } from "./history-doubles";
import { api, d1Entries, flush, historyOf, ledger, openAccount, shardOf, steadyClock, unshipped } from "./helpers";

// The object's flush (its alarm) hands history to the Queue and never writes D1 itself. Every test
// puts the object on a steady clock first, so the alarms it sets are years away and run only when
// the test runs them (runDurableObjectAlarm).

const QUEUE_MESSAGE_LIMIT = 128_000;

const debit = (id: string, body: Record<string, unknown>) => api("POST", `/v1/accounts/${id}/debits`, { body });

/** The object's shipped cursors, read straight from its SQLite. */
function cursors(state: DurableObjectState) {
  const row = state.storage.sql.exec("SELECT shipped_seq, shipped_event_seq FROM account").one();
  return { entries: row.shipped_seq as number, events: row.shipped_event_seq as number };
}

/** The object's env for the test: its Queue recorded, every D1 binding refusing any use. */
function isolated(queue: Queue, touched: string[]) {
  return (current: object) =>
    ({
      ...current,
      HISTORY: queue,
      DB: forbidden("DB", touched),
      HISTORY_1: forbidden("HISTORY_1", touched),
      HISTORY_2: forbidden("HISTORY_2", touched),
    }) as never;
}

describe("the object's flush", () => {
  it("sends one message with the new entries, events and directory row, and writes nothing to D1", async () => {
    const id = "flush-one";
    await steadyClock(id);
    await openAccount(id, 100);
    expect((await debit(id, { amount: 30, description: "first" })).status).toBe(201);
    expect((await debit(id, { amount: 12, metadata: { order: "A-1" } })).status).toBe(201);
    expect((await api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: 500 } })).status).toBe(200);
    expect(await unshipped(id)).toMatchObject({ entries: 3, events: 1 });

    const touched: string[] = [];
    const cursorAtSend: { entries: number; events: number }[] = [];
    let objectState: DurableObjectState | undefined;
    const sent = recordingQueue({ beforeAccept: () => cursorAtSend.push(cursors(objectState as DurableObjectState)) });
    const restore = await swapObjectEnv(id, (current, state) => {
      objectState = state;
      return isolated(sent.queue, touched)(current);
    });
    try {
      expect(await runDurableObjectAlarm(ledger(id))).toBe(true);

      expect(touched).toEqual([]);
      expect(sent.calls.map((c) => [c.method, c.bodies.length])).toEqual([["send", 1]]);
      const message = HistoryMessage.parse(sent.calls[0]?.bodies[0]);
      expect(message.shard).toBe(await shardOf(id));
      expect(message.account).toEqual({ id, time_zone: null });
      expect(message.entries.map((e) => [e[0], e[1], e[2], e[9]])).toEqual([
        [1, "grant", 100, null],
        [2, "debit", -30, "first"],
        [3, "debit", -12, null],
      ]);
      expect(JSON.parse(message.entries[2]?.[10] as string)).toEqual({ order: "A-1" });
      expect(message.events.map((e) => [e[0], e[1]])).toEqual([[1, "balance.low"]]);
      expect(message.directory).toMatchObject({ name: `Test ${id}`, balance: 58, debt: 0, is_low: true, last_seq: 3 });
      // When the Queue was handed the message, nothing was marked shipped yet; afterwards all of it is.
      expect(cursorAtSend).toEqual([{ entries: 0, events: 0 }]);
      expect(await unshipped(id)).toEqual({ entries: 0, events: 0, directory: 0 });

      // A second alarm has nothing new: it sends nothing.
      await runInDurableObject(ledger(id), (instance: { alarm(): Promise<void> }) => instance.alarm());
      expect(sent.calls).toHaveLength(1);
      expect(touched).toEqual([]);
    } finally {
      await restore();
    }
    // The message went only to the fake Queue: D1 has nothing of the account.
    expect(await d1Entries(id)).toEqual([]);
    const row = await realEnv.DB.prepare("SELECT 1 FROM accounts WHERE id = ?").bind(id).first();
    expect(row).toBeNull();
  });

  it("advances nothing when send() rejects, and the next alarm sends all of it: nothing is lost", async () => {
    const id = "flush-refused";
    await steadyClock(id);
    await openAccount(id, 100);
    for (const amount of [5, 6, 7]) expect((await debit(id, { amount })).status).toBe(201);
    const before = await unshipped(id);
    expect(before).toMatchObject({ entries: 4 });

    const touched: string[] = [];
    const sent = recordingQueue({ refuse: 1, forward: true });
    const restore = await swapObjectEnv(id, isolated(sent.queue, touched));
    try {
      await runDurableObjectAlarm(ledger(id));
      expect(sent.refused).toBe(1);
      expect(sent.calls).toEqual([]);
      // Everything is still to ship, and the failed run armed its own retry.
      expect(await unshipped(id)).toEqual(before);
      const retryAt = await runInDurableObject(ledger(id), (_instance, state) => state.storage.getAlarm());
      expect(retryAt).not.toBeNull();

      await runDurableObjectAlarm(ledger(id));
      expect(sent.calls).toHaveLength(1);
      const message = sent.calls[0]?.bodies[0] as HistoryMessage;
      expect(message.entries.map((e) => [e[0], e[2]])).toEqual([[1, 100], [2, -5], [3, -6], [4, -7]]);
      expect(message.directory).toMatchObject({ balance: 82, last_seq: 4 });
      expect(await unshipped(id)).toEqual({ entries: 0, events: 0, directory: 0 });
      expect(touched).toEqual([]);
    } finally {
      await restore();
    }
    // The accepted send also went to the real Queue: its consumer writes every entry once.
    await flush(id);
    expect((await d1Entries(id)).map((e) => e.amount)).toEqual([100, -5, -6, -7]);
  });

  it("cuts a flush too large for one message into pieces of at most 128 KB that carry every row once", async () => {
    const id = "flush-large";
    await steadyClock(id);
    await openAccount(id, 10_000_000);
    expect((await api("PUT", `/v1/accounts/${id}/alerts`, { body: { low_balance_threshold: 20_000_000 } })).status).toBe(200);
    // ~6 KB per entry: 12 metadata values and a description of 500 characters each.
    const metadata = Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`key_${k}`, String.fromCharCode(97 + k).repeat(500)]));
    const DEBITS = 60;
    for (let i = 0; i < DEBITS; i++) {
      const res = await debit(id, { amount: i + 1, description: "d".repeat(500), metadata });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }

    const touched: string[] = [];
    const sent = recordingQueue({ forward: true });
    const restore = await swapObjectEnv(id, isolated(sent.queue, touched));
    try {
      await runDurableObjectAlarm(ledger(id));
    } finally {
      await restore();
    }
    expect(touched).toEqual([]);
    // Several pieces, in sendBatch calls that each stay under the Queue's 100 messages and 256 KB.
    expect(sent.calls.every((c) => c.method === "sendBatch")).toBe(true);
    expect(sent.calls.length).toBeGreaterThan(1);
    for (const call of sent.calls) {
      expect(call.bodies.length).toBeLessThanOrEqual(100);
      expect(call.bodies.reduce((n, b) => n + utf8Bytes(b), 0)).toBeLessThanOrEqual(256_000);
    }
    const pieces = sent.calls.flatMap((c) => c.bodies);
    expect(pieces.length).toBeGreaterThan(2);
    for (const piece of pieces) {
      expect(utf8Bytes(piece)).toBeLessThanOrEqual(QUEUE_MESSAGE_LIMIT);
      expect(HistoryMessage.safeParse(piece).success).toBe(true);
    }
    const seqs = pieces.flatMap((p) => p.entries.map((e) => e[0]));
    expect(seqs).toEqual(Array.from({ length: DEBITS + 1 }, (_, i) => i + 1));
    expect(pieces.flatMap((p) => p.events.map((e) => e[0]))).toEqual([1]);
    expect(pieces.slice(0, -1).every((p) => p.directory === null)).toBe(true);
    expect(pieces.at(-1)?.directory).toMatchObject({ last_seq: DEBITS + 1 });
    expect(await unshipped(id)).toEqual({ entries: 0, events: 0, directory: 0 });

    // The real Queue took every piece (it refuses a message over 128 KB) and its consumer wrote them all.
    await flush(id);
    const rows = await d1Entries(id);
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    const events = await (await historyOf(id)).prepare("SELECT seq FROM account_events WHERE account_id = ?").bind(id).all();
    expect(events.results).toEqual([{ seq: 1 }]);
  });
});

describe("historyPieces", () => {
  const entry = (seq: number): EntryRow => [seq, "debit", -1, 10_000 - seq, "chat", null, null, null, null, "é".repeat(450), `{"n":${seq}}`, seq];
  const whole = (entries: number, events: number): HistoryMessage => ({
    v: 1,
    shard: "HISTORY_1",
    account: { id: "pieces", time_zone: "Europe/Paris" },
    entries: Array.from({ length: entries }, (_, i) => entry(i + 1)),
    events: Array.from({ length: events }, (_, i) => [i + 1, "balance.low", JSON.stringify({ pad: "x".repeat(200) }), i]),
    directory: { name: "n", email: null, metadata: null, balance: 1, debt: 0, is_low: false, next_expiry_at: null, last_seq: entries, created_at: 0, updated_at: 1 },
  });

  it("leaves a flush that fits as one message", () => {
    const small = whole(10, 2);
    expect(historyPieces(small)).toEqual([small]);
  });

  it("cuts 1,500 large entries into pieces under the limit, each row once, the directory on the last", () => {
    const big = whole(1500, 400);
    expect(utf8Bytes(big)).toBeGreaterThan(10 * MAX_MESSAGE_BYTES);
    const pieces = historyPieces(big);
    expect(pieces.length).toBeGreaterThan(10);
    for (const piece of pieces) {
      expect(utf8Bytes(piece)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      expect(HistoryMessage.safeParse(piece).success).toBe(true);
      expect(piece.account).toEqual(big.account);
      expect(piece.shard).toBe(big.shard);
    }
    expect(pieces.flatMap((p) => p.entries)).toEqual(big.entries);
    expect(pieces.flatMap((p) => p.events)).toEqual(big.events);
    expect(pieces.map((p) => p.directory)).toEqual([...pieces.slice(1).map(() => null), big.directory]);
  });

  it("refuses a single row that cannot fit in any message", () => {
    const huge = whole(1, 0);
    (huge.entries[0] as EntryRow)[9] = "x".repeat(MAX_MESSAGE_BYTES);
    expect(() => historyPieces(huge)).toThrow(/cannot fit in one Queue message/);
  });
});
