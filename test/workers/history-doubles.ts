// Test doubles for the history pipeline: a history message built by hand, a Queue binding that records
// what the object sends, D1 bindings that count (or refuse) batch() calls, and a way to run an
// account's object with another env for a while.

import { env, runInDurableObject } from "cloudflare:test";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import type { Env } from "../../workers/env";
import { HistoryMessage } from "../../workers/queue/history-message";
import { ledger } from "./helpers";

export const realEnv = env as unknown as Env;

/** A fixed instant in the future, so the day the usage rollup dates entries in is known. */
export const T0 = Date.parse("2030-01-15T12:00:00.000Z");
export const T0_DAY = "2030-01-15";

/**
 * One flush of an account as its object would send it: a grant, two debits of `chat` (30 + 12), a
 * capture of `image` (5), a balance.low event and the directory row. Validated by the consumer's schema.
 */
export function historyBody(id: string, shard: string, options: { directory?: boolean } = {}): HistoryMessage {
  return HistoryMessage.parse({
    v: 1,
    shard,
    account: { id, time_zone: null },
    entries: [
      [1, "grant", 1000, 1000, null, null, null, "lot_1", null, "welcome", null, T0],
      [2, "debit", -30, 970, "chat", '{"tokens":3}', null, "lot_1", null, "first", '{"k":"v"}', T0 + 1],
      [3, "debit", -12, 958, "chat", null, null, "lot_1", null, null, null, T0 + 2],
      [4, "capture", -5, 953, "image", null, "hold_1", "lot_1", 5, null, null, T0 + 3],
    ],
    events: [[1, "balance.low", '{"balance":953}', T0 + 3]],
    directory:
      options.directory === false
        ? null
        : {
            name: `Test ${id}`,
            email: null,
            metadata: null,
            balance: 953,
            debt: 0,
            is_low: true,
            next_expiry_at: null,
            last_seq: 4,
            created_at: T0,
            updated_at: T0 + 10,
          },
  });
}

export const delivery = (id: string, body: unknown, attempts = 1) => ({ id, timestamp: new Date(T0), attempts, body });

/** What a fake HISTORY Queue binding was asked to send, call by call. */
export interface SendCall {
  method: "send" | "sendBatch";
  bodies: HistoryMessage[];
}

export interface RecordingQueue {
  queue: Queue<HistoryMessage>;
  calls: SendCall[];
  /** Calls that were refused (they are not in `calls`). */
  refused: number;
}

/**
 * A Queue binding that records every send. `refuse` sends reject first (as the Queue does when it is
 * unavailable); with `forward` the accepted ones also go on to the real Queue.
 */
export function recordingQueue(options: { refuse?: number; forward?: boolean; beforeAccept?: () => void } = {}): RecordingQueue {
  let refuse = options.refuse ?? 0;
  const out: RecordingQueue = { calls: [], refused: 0, queue: undefined as unknown as Queue<HistoryMessage> };
  const accept = async (method: SendCall["method"], bodies: HistoryMessage[]) => {
    options.beforeAccept?.();
    if (refuse > 0) {
      refuse--;
      out.refused++;
      throw new Error("Queue send failed: simulated outage");
    }
    // A copy as the Queue would serialise it: later changes by the sender cannot alter what was sent.
    out.calls.push({ method, bodies: bodies.map((b) => JSON.parse(JSON.stringify(b)) as HistoryMessage) });
  };
  out.queue = {
    async send(body: HistoryMessage, sendOptions?: QueueSendOptions) {
      await accept("send", [body]);
      if (options.forward) await realEnv.HISTORY.send(body, sendOptions);
    },
    async sendBatch(messages: Iterable<MessageSendRequest<HistoryMessage>>, sendOptions?: QueueSendBatchOptions) {
      const list = [...messages];
      await accept("sendBatch", list.map((m) => m.body));
      if (options.forward) await realEnv.HISTORY.sendBatch(list, sendOptions);
    },
  } as unknown as Queue<HistoryMessage>;
  return out;
}

/** A binding that records and refuses any use at all. */
export function forbidden(name: string, touched: string[]): D1Database {
  return new Proxy({} as D1Database, {
    get(_target, prop) {
      touched.push(`${name}.${String(prop)}`);
      throw new Error(`${name} must not be used here (.${String(prop)})`);
    },
  });
}

export type D1Name = "DB" | "HISTORY_1" | "HISTORY_2";

/**
 * The env with its three D1 bindings wrapped: each batch() call is counted per binding, and a binding
 * in `failing` refuses it (`mode: "before"`, nothing written) or writes and then reports a failure
 * (`mode: "after"`, as when the answer of a committed batch is lost).
 */
export function countingEnv(options: { failing?: Iterable<D1Name>; mode?: "before" | "after"; vars?: Partial<Env> } = {}) {
  const batches: Record<D1Name, number> = { DB: 0, HISTORY_1: 0, HISTORY_2: 0 };
  const failing = new Set(options.failing ?? []);
  const wrap = (name: D1Name): D1Database => {
    const real = realEnv[name as "DB"];
    return new Proxy(real, {
      get(target, prop) {
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            batches[name]++;
            if (!failing.has(name)) return target.batch(statements);
            if (options.mode === "after") await target.batch(statements);
            throw new Error(`D1_ERROR: ${name} unavailable (simulated)`);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
  const copy = { ...realEnv, ...options.vars, DB: wrap("DB"), HISTORY_1: wrap("HISTORY_1"), HISTORY_2: wrap("HISTORY_2") } as Env;
  return { env: copy, batches };
}

/**
 * Gives the account's object (the live instance) `make(itsEnv)` as its env until the returned restore()
 * is called. The instance must stay alive meanwhile: nothing here evicts it.
 */
export async function swapObjectEnv(id: string, make: (current: Env, state: DurableObjectState) => Env): Promise<() => Promise<void>> {
  let original: Env | undefined;
  await runInDurableObject(ledger(id), (instance: AccountLedger, state) => {
    const holder = instance as unknown as { env: Env };
    original = holder.env;
    holder.env = make(holder.env, state);
  });
  return async () => {
    await runInDurableObject(ledger(id), (instance: AccountLedger) => {
      (instance as unknown as { env: Env }).env = original as Env;
    });
  };
}

/** Rows of `table` in `db` for the given accounts, in a stable order, for before/after comparisons. */
export async function rowsOf(db: D1Database, table: string, ids: readonly string[], order: string): Promise<Record<string, unknown>[]> {
  const list = JSON.stringify(ids);
  const rows = await db.prepare(`SELECT * FROM ${table} WHERE account_id IN (SELECT value FROM json_each(?1)) ORDER BY ${order}`).bind(list).all();
  return rows.results;
}

export const utf8Bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

/** The real local D1 database bound as `name`. */
export const d1 = (name: string): D1Database => (realEnv as unknown as Record<string, D1Database>)[name] as D1Database;
