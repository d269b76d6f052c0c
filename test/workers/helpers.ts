import { expect } from "vitest";
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import type { AccountLedger } from "../../durable-objects/account-ledger";

export const ADMIN_KEY = env.ADMIN_API_KEY as string;

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

let counter = 0;
/** A fresh Idempotency-Key for each call unless the test names one. */
export const freshKey = () => `test-${Date.now()}-${++counter}-${Math.random().toString(36).slice(2)}`;

export async function api<T = any>(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; key?: string | null; idem?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? ADMIN_KEY : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined || options.raw !== undefined) headers["content-type"] ??= "application/json";
  if (method === "POST" && options.idem !== null) headers["idempotency-key"] ??= options.idem ?? freshKey();
  const res = await exports.default.fetch(`https://credence.test${path}`, {
    method,
    headers,
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/** Creates an account with `credits` granted (never expiring). */
export async function openAccount(id: string, credits = 0): Promise<void> {
  const created = await api("PUT", `/v1/accounts/${id}`, { body: { name: `Test ${id}` } });
  if (created.status !== 201 && created.status !== 200) throw new Error(`open ${id}: ${created.status} ${JSON.stringify(created.body)}`);
  if (credits > 0) {
    const granted = await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: credits } });
    if (granted.status !== 201) throw new Error(`grant ${id}: ${granted.status} ${JSON.stringify(granted.body)}`);
  }
}

export async function account(id: string) {
  return (await api("GET", `/v1/accounts/${id}`)).body;
}

export function ledger(id: string) {
  return env.LEDGER.get(env.LEDGER.idFromName(id));
}

const EVICTED = "test: evicted";
const marker = Symbol("instance before eviction");

/**
 * Evicts the account's object: its instance and all in-memory state are thrown away, its storage is
 * kept, and the next request builds a new instance from storage. Done with `ctx.abort()` on that one
 * object (the runtime the Node 20 toolchain ships has no `evictDurableObject`); checks that the
 * instance really was replaced. workerd logs the abort as an "uncaught exception": that is expected.
 */
export async function evict(id: string): Promise<void> {
  await runInDurableObject(ledger(id), (instance: object) => {
    (instance as Record<symbol, boolean>)[marker] = true;
  });
  const aborted = await runInDurableObject(ledger(id), (_instance, state) => state.abort(EVICTED)).then(
    () => false,
    (err: unknown) => String(err).includes(EVICTED),
  );
  if (!aborted) throw new Error(`evict(${id}): ctx.abort() did not abort the object`);
  // A stub whose object was aborted stays broken; ledger() makes a new one.
  const fresh = await runInDurableObject(ledger(id), (instance: object) => !(marker in instance));
  if (!fresh) throw new Error(`evict(${id}): the object kept its instance`);
}

/** How long flush() waits for history to land before it gives up: long enough for a loaded machine. */
export const FLUSH_DEADLINE_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What the object has not sent to the history Queue yet (journal entries, events, the directory row), read from its own
 * storage; null for an object that was never opened.
 */
export async function unshipped(id: string): Promise<{ entries: number; events: number; directory: number } | null> {
  return runInDurableObject(ledger(id), (_instance, state) => {
    const sql = state.storage.sql;
    if (!sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account'").toArray().length) return null;
    const a = sql.exec("SELECT shipped_seq, shipped_event_seq, directory_version, shipped_directory_version FROM account").toArray()[0];
    if (!a) return null;
    const lastSeq = sql.exec("SELECT coalesce(max(seq), 0) AS s FROM journal").one().s as number;
    const lastEventSeq = sql.exec("SELECT coalesce(max(seq), 0) AS s FROM events").one().s as number;
    return {
      entries: Math.max(0, lastSeq - (a.shipped_seq as number)),
      events: Math.max(0, lastEventSeq - (a.shipped_event_seq as number)),
      directory: Math.max(0, (a.directory_version as number) - (a.shipped_directory_version as number)),
    };
  });
}

/** The name of the D1 binding that holds the account's history (recorded by its object when opened). */
export async function shardOf(id: string): Promise<string> {
  return runInDurableObject(ledger(id), (_instance, state) => state.storage.kv.get<string>("history_shard") ?? "DB");
}

/** The D1 database that holds the account's history. */
export async function historyOf(id: string): Promise<D1Database> {
  return (env as unknown as Record<string, D1Database>)[await shardOf(id)] as D1Database;
}

/** What the object recorded that D1 does not show yet (its shard's entries and events, the directory). */
async function notLanded(id: string): Promise<string | null> {
  const mine = await runInDurableObject(ledger(id), (_instance, state) => {
    const sql = state.storage.sql;
    const a = sql.exec("SELECT name, email, time_zone FROM account").toArray()[0];
    return {
      lastSeq: sql.exec("SELECT coalesce(max(seq), 0) AS s FROM journal").one().s as number,
      lastEventSeq: sql.exec("SELECT coalesce(max(seq), 0) AS s FROM events").one().s as number,
      profile: JSON.stringify([a?.name, a?.email, a?.time_zone]),
    };
  });
  const db = await historyOf(id);
  const entries = (await db.prepare("SELECT coalesce(max(seq), 0) AS s FROM ledger_entries WHERE account_id = ?").bind(id).first<{ s: number }>())?.s;
  if (entries !== mine.lastSeq) return `entries up to ${entries} of ${mine.lastSeq}`;
  const events = (await db.prepare("SELECT coalesce(max(seq), 0) AS s FROM account_events WHERE account_id = ?").bind(id).first<{ s: number }>())?.s;
  if (events !== mine.lastEventSeq) return `events up to ${events} of ${mine.lastEventSeq}`;
  const row = await env.DB.prepare("SELECT name, email, time_zone, last_seq FROM accounts WHERE id = ?").bind(id).first<Record<string, unknown>>();
  if (!row) return "no directory row";
  if (row.last_seq !== mine.lastSeq || JSON.stringify([row.name, row.email, row.time_zone]) !== mine.profile) return "directory row behind";
  return null;
}

/**
 * Runs the object's alarm now (history shipping, expiry), as the runtime would when it comes due,
 * then waits until everything the object recorded — entries, events, the directory row — has gone to
 * the history Queue and the Queue's consumer has written it to D1. The runtime may be running the alarm
 * on its own at the same moment (it is due 100 ms after a change); then history lands when that run
 * finishes. Polls until then, returning as soon as nothing is left, and fails loudly after
 * FLUSH_DEADLINE_MS rather than letting a later assertion on D1 fail for want of waiting.
 */
export async function flush(id: string): Promise<void> {
  await runDurableObjectAlarm(ledger(id));
  const deadline = Date.now() + FLUSH_DEADLINE_MS;
  for (;;) {
    const left = await unshipped(id);
    const sent = !left || (left.entries === 0 && left.events === 0 && left.directory === 0);
    const missing = !left ? null : sent ? await notLanded(id) : "not sent to the Queue yet";
    if (missing === null) return;
    if (Date.now() > deadline) throw new Error(`flush(${id}): after ${FLUSH_DEADLINE_MS} ms, ${missing}: ${JSON.stringify(left)}`);
    await sleep(25);
    if (!sent) await runDurableObjectAlarm(ledger(id));
  }
}

/**
 * Polls `read` until `done` accepts its value or the deadline passes, and returns the last value read,
 * for state that something else (an alarm, on its own schedule) brings about.
 */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, deadlineMs = FLUSH_DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(25);
  }
}

/**
 * Moves the object's clock to a fixed mid-month, mid-day instant in the future (17:00 UTC: hours from
 * any midnight from UTC-11 to UTC+14) and lets it run on from there, so a test about "today" or "this
 * month" cannot straddle a day or month boundary, and no alarm the object sets comes due on its own
 * during the test (flush() still runs it). Call before the account is opened, and again after an
 * eviction: a fresh instance starts with the real clock.
 */
export const STEADY_DAY = Date.parse("2030-01-15T17:00:00.000Z");
export async function steadyClock(id: string, startedAt: number = Date.now()): Promise<number> {
  await runInDurableObject(ledger(id), (instance: AccountLedger) => {
    instance.clock = () => STEADY_DAY + (Date.now() - startedAt);
  });
  return startedAt;
}

/** The rows D1 holds for an account's history. */
export async function d1Entries(id: string): Promise<{ kind: string; amount: number; seq: number }[]> {
  const rows = await (await historyOf(id)).prepare("SELECT kind, amount, seq FROM ledger_entries WHERE account_id = ? ORDER BY seq").bind(id).all();
  return rows.results as { kind: string; amount: number; seq: number }[];
}

/** Balance and Σ journal as the object sees them, to check nothing moved. */
export async function audit(id: string) {
  return ledger(id).audit();
}

/**
 * What a request can change in the object's books: Σ journal, balance and the last journal seq.
 * Not shippedSeq: the alarm moves that on its own schedule, ~100 ms after any change, so comparing it
 * before and after a request measures the machine's load, not the request.
 */
export async function books(id: string): Promise<{ journalSum: number; balance: number; lastSeq: number } | null> {
  const a = await audit(id);
  return a && { journalSum: a.journalSum, balance: a.balance, lastSeq: a.lastSeq };
}

/**
 * Sends a request that must be refused with `status` and `type`, and checks that it changed nothing in
 * the account's books (read before the request is sent, so a refusal that did write is caught).
 */
export async function expectRefused(id: string, send: () => Promise<Answer>, status: number, type: string): Promise<Answer> {
  const before = await books(id);
  const res = await send();
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.type).toBe(type);
  expect(typeof res.body.error.message).toBe("string");
  expect(await books(id)).toEqual(before);
  return res;
}
