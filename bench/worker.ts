// Bench-only Worker entry (never deployed): the real app, unchanged, plus routes under /bench/ that
// measure the runtime's own ceilings, a naive D1 peer, and a few variants of the debit path used to
// find where its time goes. Built by bench/run.mjs with bench/wrangler.bench.toml.
//
//   GET  /bench/noop                   a constant, no auth: the HTTP ceiling
//   GET  /bench/do_ceiling             one RPC to BenchCeiling.nothing()
//   GET  /bench/do_write_ceiling       one RPC to BenchCeiling.write(): one single-row UPDATE
//   POST /bench/naive_d1/{id}          the tutorial debit: zod-validated body, then one D1 batch of a
//                                      conditional UPDATE of a balance row + an INSERT of a history row
//   POST /bench/seed_journal/{id}      bulk-inserts journal (and idempotency) rows into that account's
//                                      object, for the growth scenario (see AccountLedger below)
//   GET  /bench/stats                  counters since the isolate started: ledger alarm runs (history
//                                      shipping), history Queue batches and messages consumed, D1 write
//                                      transactions made while consuming (per database), and any D1 use
//                                      by the ledger objects (there should be none)
//   POST /bench/history_probe          which of the given [account, seq] pairs are in D1 (every history shard,
//                                      one query each): the spread lag probe
//   POST /bench/history_seed/{id}      writes synthetic history for that account through the real Queue
//                                      consumer (consumeHistory with HistoryMessage bodies), for usage_1m
//   GET  /bench/audit/{id}             the object's own audit(): Σ journal and balance, after the load
//   sweep_10k (the cron sweep, workers/cron/):
//   POST /bench/alarms?hold=H&prefix=P  how the alarms of accounts whose id starts with P behave from now
//                                      on: H = expiries: an alarm that would settle an expired lot does
//                                      nothing (the sweep, not the alarm, settles it), the others (history
//                                      shipping) run as usual; H = all: no alarm runs, or is even set;
//                                      H = none.
//                                      Answers with the hold as an object sees it (one isolate).
//   POST /bench/resume_alarms          for each posted account id, sets its object's alarm for now (after
//                                      a hold: ships what it holds)
//   POST /bench/sweep?parallel=N&evict=1  N (default 1) invocations of the real handleScheduled() at once,
//                                      each timed and with its subrequests (object calls, D1 calls)
//                                      counted; evict=1: each object is evicted once the sweep has its
//                                      tick() answer (see sweepEnv)
//   POST /bench/expire_counts          for each posted account id, its object's `expire` journal entries
//                                      and how many of them are dated at their lot's expiry instant (the
//                                      object is evicted afterwards)
//   POST /bench/evict                  [id, …]: evicts those objects from memory (benchEvict)
//   profiling variants (same object class, same RPC, parts of the real route taken away):
//   GET  /bench/p/auth                          authenticate() only (SHA-256 + isolate cache), then a constant
//   GET  /bench/p/ledger_write/{id}             RPC to a ledger object running one single-row UPDATE
//   POST /bench/p/ledger_reads_write/{id}       the debit's reads (replay check, account, lots, holds) + 1 UPDATE
//   GET  /bench/p/ledger_three_writes/{id}      the debit's 3 ledger writes as bare SQL (lot, journal, account)
//   POST /bench/p/debit_rpc_noidem/{id}         RPC ledger.debit() with no idempotency (no replay check, no stored reply)
//   POST /bench/p/debit_rpc/{id}                RPC ledger.debit() directly: no router, no auth, no zod, no hashing
//                                               (on an account named p_noship… its history is never shipped)
//   POST /bench/p/debit_validated/{id}          zod body + fingerprint hash + pricing + ledger.debit(): the real
//                                               route minus the Hono/OpenAPI router, body limit and auth

import { DurableObject } from "cloudflare:workers";
import { AccountLedger as ProductLedger } from "../durable-objects/account-ledger";
import type { AccountRecord, LedgerStore } from "../durable-objects/store/store";
import { ChargeBody } from "../workers/api/schemas";
import { createApp } from "../workers/app";
import { isD1, shardDb, shardNames } from "../workers/db/shards";
import { chargeOf, priceCharge } from "../workers/catalog/prices";
import type { Env } from "../workers/env";
import { authenticate } from "../workers/http/auth";
import { handleScheduled } from "../workers/cron";
import { Failure, mapLimit } from "../workers/cron/pool";
import { sha256Hex } from "../workers/http/crypto";
import { send } from "../workers/http/send";
import { HISTORY_QUEUE, HISTORY_DEAD_LETTER_QUEUE, handleQueue } from "../workers/queue";
import { consumeHistory } from "../workers/queue/history-consumer";
import type { EntryRow, HistoryMessage } from "../workers/queue/history-message";

// ---- counting D1 use ------------------------------------------------------------------------------

/**
 * D1 use through one env, by database: `writes` are transactions that may write (each batch(), each
 * exec(), each run() of a prepared statement: D1 commits each as one transaction), `reads` are
 * first()/all()/raw() of a statement outside a batch, `statements` the statements inside batches.
 */
interface D1Tally {
  writes: number;
  reads: number;
  statements: number;
  /** Wall time the batch() calls took, ms (D1's single writer per database is what bounds it). */
  batchMs: number;
  byDatabase: Record<string, { writes: number; reads: number; statements: number; batchMs: number }>;
}

const newTally = (): D1Tally => ({ writes: 0, reads: 0, statements: 0, batchMs: 0, byDatabase: {} });

/** While the history Queue's consumer runs. */
const consumerD1 = newTally();
/** While the dead-letter queue's consumer runs (it records what the history consumer gave up on). */
const deadLetterD1 = newTally();
/** Made by the ledger objects: the objects hand history to the Queue and must not touch D1 at all. */
const objectD1 = newTally();

function bump(tally: D1Tally, database: string, what: "writes" | "reads" | "statements" | "batchMs", n = 1): void {
  tally[what] += n;
  const db = (tally.byDatabase[database] ??= { writes: 0, reads: 0, statements: 0, batchMs: 0 });
  db[what] += n;
}

/** A proxy's target, so that batch() hands the real statements to D1. */
const proxied = new WeakMap<object, object>();
const unwrap = <T extends object>(value: T): T => (proxied.get(value) as T | undefined) ?? value;

/** Calls on the real object (D1's classes may keep private state that a Proxy `this` cannot reach). */
function forward(target: object, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === "function" ? value.bind(target) : value;
}

function countingStatement(statement: D1PreparedStatement, database: string, tally: D1Tally): D1PreparedStatement {
  const proxy = new Proxy(statement, {
    get(target, prop) {
      if (prop === "bind") return (...args: unknown[]) => countingStatement(target.bind(...args), database, tally);
      if (prop === "run") bump(tally, database, "writes");
      else if (prop === "first" || prop === "all" || prop === "raw") bump(tally, database, "reads");
      return forward(target, prop);
    },
  });
  proxied.set(proxy, statement);
  return proxy;
}

function countingD1(db: D1Database, database: string, tally: D1Tally): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => countingStatement(target.prepare(query), database, tally);
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          bump(tally, database, "writes");
          bump(tally, database, "statements", statements.length);
          const started = Date.now(); // advances across I/O, which a D1 call is
          const done = () => bump(tally, database, "batchMs", Date.now() - started);
          const result = target.batch(statements.map(unwrap));
          result.then(done, done);
          return result;
        };
      }
      if (prop === "exec") bump(tally, database, "writes");
      // withSession(), dump() …: not used by the history path; counted as reads so that any use shows.
      else if (typeof prop === "string" && prop !== "then" && typeof (target as unknown as Record<string, unknown>)[prop] === "function") {
        bump(tally, database, "reads");
      }
      return forward(target, prop);
    },
  });
}


/** The same env with every D1 binding counted into `tally`. */
function countingEnv<E extends object>(env: E, tally: D1Tally): E {
  const wrapped = new Map<string, D1Database>();
  return new Proxy(env, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== "string" || !isD1(value)) return value;
      let db = wrapped.get(prop);
      if (!db) wrapped.set(prop, (db = countingD1(value, prop, tally)));
      return db;
    },
  });
}

/** What the Queue handler has consumed. */
const queueStats = {
  history_batches: 0,
  history_messages: 0,
  history_retried: 0,
  dead_letter_batches: 0,
  dead_letter_messages: 0,
  /** Σ over history messages of (delivered to queue() − sent by the object): time in the Queue. */
  queue_wait_ms_sum: 0,
  /** Σ over history messages of (delivered − created_at of its newest entry): the object's flush delay plus the Queue. */
  entry_age_ms_sum: 0,
  /** Messages that carried entries (entry_age_ms_sum is over these). */
  entry_messages: 0,
};

/** The batch with each message's retry() counted (a retried message is delivered, and written, again). */
function countingBatch(batch: MessageBatch<unknown>): MessageBatch<unknown> {
  const countRetry = (n: number) => {
    if (batch.queue === HISTORY_QUEUE) queueStats.history_retried += n;
  };
  const messages = batch.messages.map(
    (message) =>
      new Proxy(message, {
        get(target, prop) {
          if (prop === "retry") return (options?: QueueRetryOptions) => (countRetry(1), target.retry(options));
          return forward(target, prop);
        },
      }),
  );
  return new Proxy(batch, {
    get(target, prop) {
      if (prop === "messages") return messages;
      if (prop === "retryAll") return (options?: QueueRetryOptions) => (countRetry(messages.length), target.retryAll(options));
      return forward(target, prop);
    },
  });
}

/**
 * The product's AccountLedger plus bench-only hooks. `benchSeed` plays the part of vitest's
 * runInDurableObject: it writes rows straight into this object's SQLite with the product's own schema
 * (the product code decides the schema, this only fills it). The bench* methods are profiling
 * variants, and alarm() only counts runs (and skips them for p_noship… accounts). Every product method
 * is inherited as is, so the real routes run the real code.
 */
export class AccountLedger extends ProductLedger {
  constructor(ctx: DurableObjectState, env: Env) {
    // Every D1 call the object makes is counted (GET /bench/stats → object_d1): it should make none.
    super(ctx, countingEnv(env, objectD1));
    // sweep_10k: while every alarm of this account is held, it is not even set (the product's private
    // armAlarm(), shadowed on the instance): an alarm set now would only wake the object to do nothing,
    // holding its SQLite memory again (see benchEvict). POST /bench/resume_alarms sets it afterwards.
    const armAlarm = (ProductLedger.prototype as unknown as { armAlarm: (at: number | null) => Promise<void> }).armAlarm;
    (this as unknown as { armAlarm: (at: number | null) => Promise<void> }).armAlarm = async (at) => {
      if (at !== null && alarmHold.mode === "all" && alarmHold.prefix !== "" && this.accountId().startsWith(alarmHold.prefix)) {
        alarmsNotSet++;
        return;
      }
      return armAlarm.call(this, at);
    };
  }

  /**
   * Appends `count` debit entries (and, if asked, `count` idempotency keys, as an account that made
   * that many debits within the retention window would hold), preceded by one grant entry of `count`
   * so that Σ journal = balance still holds, then marks everything shipped (the history of an old
   * account is in D1 already; shipping a million rows is not what this scenario measures).
   */
  async benchSeed(count: number, withIdempotency: boolean): Promise<{ lastSeq: number; idempotencyRows: number }> {
    const sql = this.ctx.storage.sql;
    const now = Date.now();
    return this.ctx.storage.transactionSync(() => {
      const last = sql.exec("SELECT coalesce(max(seq), 0) AS s FROM journal").one().s as number;
      const balance = 1_000_000_000_000; // only a display value on seeded rows
      sql.exec(
        `INSERT INTO journal (kind, amount, balance_after, description, created_at) VALUES ('grant', ?, ?, 'bench seed', ?)`,
        count,
        balance + count,
        now,
      );
      sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO journal (kind, amount, balance_after, operation, quantities, description, metadata, created_at)
         SELECT 'debit', -1, ?2 + ?1 - i, 'chat.bench', '{"input_tokens":1200,"output_tokens":350}',
                'bench seed', '{"request_id":"req_' || i || '"}', ?3 FROM n`,
        count,
        balance,
        now,
      );
      if (withIdempotency) {
        sql.exec(
          `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
           INSERT INTO replies (key, fingerprint, status, json, cost, balance, created_at)
           SELECT lower(hex(randomblob(16))), lower(hex(randomblob(32))), 201,
                  '{"entry_id":"ent_seed_' || (?2 + i) || '","cost":1,"balance":1,"available":1}', 1, 1, ?3 FROM n`,
          count,
          last,
          now,
        );
      }
      const lastSeq = sql.exec("SELECT max(seq) AS s FROM journal").one().s as number;
      sql.exec("UPDATE account SET shipped_seq = ? WHERE singleton = 1", lastSeq);
      const idempotencyRows = sql.exec("SELECT count(*) AS n FROM replies").one().n as number;
      // The rows above bypassed the store: let it reload what it mirrors.
      (this as unknown as { store: LedgerStore }).store.forgetCache();
      return { lastSeq, idempotencyRows };
    });
  }

  /**
   * Profiling: one single-row UPDATE in this (ledger) object's SQLite, like BenchCeiling.write(). The
   * value must change: with Miniflare's in-memory storage an UPDATE that rewrites the same value is
   * not charged a commit.
   */
  async benchWrite(): Promise<number> {
    this.ctx.storage.sql.exec("UPDATE account SET updated_at = updated_at + 1 WHERE singleton = 1");
    return 1;
  }

  /** Profiling: the reads a debit makes before its rule runs (replay check, account, lots, holds), then that one UPDATE. */
  async benchReadsThenWrite(key: string): Promise<number> {
    const store = (this as unknown as { store: LedgerStore }).store;
    return this.ctx.storage.transactionSync(() => {
      if (store.storedReply(key)) return 0;
      const account = store.account() as AccountRecord;
      const state = store.loadState(account);
      this.ctx.storage.sql.exec("UPDATE account SET updated_at = updated_at + 1 WHERE singleton = 1");
      return state.lots.length;
    });
  }

  /**
   * Profiling: the debit's three ledger writes as bare SQL, without the rule, the row mapping or any
   * JSON: burn 1 from the live lot, append a journal row, touch the account row.
   */
  async benchThreeWrites(): Promise<number> {
    const sql = this.ctx.storage.sql;
    return this.ctx.storage.transactionSync(() => {
      sql.exec("UPDATE lots SET remaining = remaining - 1 WHERE id = (SELECT id FROM lots WHERE remaining > 0 LIMIT 1)");
      const seq = sql
        .exec("INSERT INTO journal (kind, amount, balance_after, created_at) VALUES ('debit', -1, 0, ?) RETURNING seq", Date.now())
        .one().seq as number;
      (this as unknown as { store: LedgerStore }).store.forgetCache();
      sql.exec("UPDATE account SET updated_at = updated_at + 1 WHERE singleton = 1");
      return seq;
    });
  }

  /**
   * Profiling: accounts named p_noship… never ship history (their alarm does nothing), to price shipping.
   * sweep_10k (POST /bench/alarms): under the hold `expiries`, an alarm that would settle an expired lot
   * does nothing, so the lot is left for the cron sweep; it leaves the object as an alarm lost a while
   * ago would, with no alarm pending (alarm_at cleared), so that whatever sets its alarm next sets it
   * afresh. Under the hold `all`, no alarm of the account runs (and none is set: see the constructor).
   */
  override async alarm(): Promise<void> {
    if (this.ctx.id.name?.startsWith("p_noship")) return;
    // The account's own id: an object woken by its alarm after eviction does not know ctx.id.name.
    if (alarmHold.mode !== "none" && alarmHold.prefix !== "" && this.accountId().startsWith(alarmHold.prefix)) {
      if (alarmHold.mode === "all") {
        // Dropped: POST /bench/resume_alarms sets it again.
        alarmsHeld++;
        return;
      }
      if (this.hasUnsettledExpiry()) {
        alarmsHeld++;
        this.ctx.storage.sql.exec("UPDATE account SET alarm_at = NULL WHERE singleton = 1");
        (this as unknown as { store: LedgerStore }).store.forgetCache();
        return;
      }
    }
    alarmRuns++;
    return super.alarm();
  }

  /**
   * sweep_10k: takes this object out of memory (ctx.abort(), so the call itself fails; callers ignore
   * that); its storage and any alarm stay as they are. One workerd holds every object here, and
   * workerd caps the SQLite memory of the whole process (512 MiB: cloudflare/workerd#6570); an idle
   * object keeps its SQLite connection ~10 s before the runtime evicts it, so a sweep over thousands
   * of objects a second would exhaust it (SQLITE_NOMEM). On Cloudflare each object's storage is its
   * own; this only stands in for that.
   */
  async benchEvict(): Promise<void> {
    this.ctx.abort("bench: evicted to free its SQLite memory");
  }

  /** After a hold: the alarm, now (it ships whatever the object holds unshipped). false: no account. */
  async benchResumeAlarm(): Promise<boolean> {
    if (this.ctx.storage.kv.get("schema_version") === undefined) return false;
    await this.ctx.storage.setAlarm(Date.now());
    return true;
  }

  private accountId(): string {
    return (this as unknown as { store: LedgerStore }).store.account()?.id ?? "";
  }

  private hasUnsettledExpiry(): boolean {
    if (this.ctx.storage.kv.get("schema_version") === undefined) return false;
    return this.ctx.storage.sql.exec("SELECT 1 FROM lots WHERE remaining > 0 AND expires_at <= ? LIMIT 1", this.clock()).toArray().length > 0;
  }

  /** The hold as this object's isolate sees it: the harness checks it is the Worker's (one isolate). */
  async benchAlarmHold(): Promise<AlarmHold> {
    return { ...alarmHold };
  }

  /**
   * sweep_10k's exactly-once check: this account's `expire` journal entries, how many of them are dated
   * at their lot's expiry instant, and its lots still expired but unsettled. null: no account here.
   */
  async benchExpiries(): Promise<{ expires: number; datedAtExpiry: number; unsettled: number } | null> {
    if (this.ctx.storage.kv.get("schema_version") === undefined) return null;
    const sql = this.ctx.storage.sql;
    const row = sql
      .exec(
        `SELECT count(*) AS expires, coalesce(sum(j.created_at = l.expires_at), 0) AS dated
         FROM journal j LEFT JOIN lots l ON l.id = j.lot_id WHERE j.kind = 'expire'`,
      )
      .one();
    const unsettled = sql.exec("SELECT count(*) AS n FROM lots WHERE remaining > 0 AND expires_at <= ?", this.clock()).one().n as number;
    return { expires: row.expires as number, datedAtExpiry: row.dated as number, unsettled };
  }
}

/** How many times a ledger's alarm (expiry, history shipping, pruning) has run in this isolate. */
let alarmRuns = 0;
/**
 * sweep_10k: which alarms of which accounts do nothing (see AccountLedger.alarm() and POST /bench/alarms).
 * Module state: Miniflare runs the objects in the Worker's isolate (checked by POST /bench/alarms).
 */
interface AlarmHold {
  mode: "none" | "expiries" | "all";
  prefix: string;
}
const alarmHold: AlarmHold = { mode: "none", prefix: "" };
/** Alarms that did nothing because of the hold, and alarms not set because of it. */
let alarmsHeld = 0;
let alarmsNotSet = 0;

/** The runtime's own ceilings: an RPC that does nothing, and one that persists one row. */
export class BenchCeiling extends DurableObject<BenchEnv> {
  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
      INSERT OR IGNORE INTO counter (id, n) VALUES (1, 0);`);
  }

  async nothing(): Promise<number> {
    return 0;
  }

  async write(): Promise<number> {
    this.ctx.storage.sql.exec("UPDATE counter SET n = n + 1 WHERE id = 1");
    return 1;
  }
}

export interface BenchEnv extends Env {
  CEILING: DurableObjectNamespace<BenchCeiling>;
}

const app = createApp();

const JSON_HEADERS = { "content-type": "application/json" };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
const NOOP_BODY = '{"ok":true}';

function ledger(env: BenchEnv, id: string) {
  const ns = env.LEDGER as unknown as DurableObjectNamespace<AccountLedger>;
  return ns.get(ns.idFromName(id));
}

function ceiling(env: BenchEnv) {
  return env.CEILING.get(env.CEILING.idFromName("ceiling"));
}

async function readJson(request: Request): Promise<unknown> {
  try {
    return await request.json();
  } catch {
    return undefined;
  }
}

/** The tutorial debit: validate like the real route, then one D1 batch (UPDATE … WHERE balance >= ?; INSERT). */
async function naiveDebit(request: Request, env: BenchEnv, id: string): Promise<Response> {
  const parsed = ChargeBody.safeParse(await readJson(request));
  if (!parsed.success) return json({ error: { type: "invalid_request", message: parsed.error.issues[0]?.message } }, 400);
  const amount = parsed.data.amount;
  if (amount === undefined) return json({ error: { type: "invalid_request", message: "naive_d1 takes 'amount' only" } }, 400);
  const now = Date.now();
  const [updated, inserted] = await env.DB.batch<{ balance?: number; id?: number }>([
    env.DB.prepare("UPDATE naive_balances SET balance = balance - ?1, updated_at = ?2 WHERE id = ?3 AND balance >= ?1 RETURNING balance").bind(
      amount,
      now,
      id,
    ),
    env.DB.prepare(
      "INSERT INTO naive_entries (account_id, amount, description, idempotency_key, created_at) SELECT ?1, ?2, ?3, ?4, ?5 WHERE changes() = 1 RETURNING id",
    ).bind(id, -amount, parsed.data.description ?? null, request.headers.get("idempotency-key"), now),
  ]);
  const balance = updated?.results[0]?.balance;
  if (balance === undefined) return json({ error: { type: "insufficient_credits", message: "Not enough credits." } }, 402);
  return json({ entry_id: `naive_${inserted?.results[0]?.id}`, cost: amount, balance }, 201);
}

/** A few operations with the quantities a metered request of each would carry. */
const SEED_OPERATIONS: [string, string][] = [
  ["chat.completions", '{"input_tokens":1200,"output_tokens":350}'],
  ["chat.embeddings", '{"input_tokens":800}'],
  ["images.generate", '{"images":1}'],
  ["audio.transcribe", '{"seconds":42}'],
  ["search.query", '{"requests":1}'],
];

/**
 * usage_1m's fixture: `count` debit entries of the account, seqs from `first_seq`, created evenly from
 * `from_ms` to `to_ms`, the operations taking turns, written by the real consumer (consumeHistory) as
 * HistoryMessage bodies of `per_message` entries each, all in one consumer batch per call — so
 * ledger_entries and usage_daily are filled exactly as production fills them. The account's shard is
 * the one its directory row names. Goes through the raw env: these writes are not part of the counts.
 */
async function historySeed(request: Request, env: BenchEnv, id: string): Promise<Response> {
  const body = (await readJson(request)) as { first_seq: number; count: number; per_message: number; from_ms: number; to_ms: number; total: number; first_total_seq: number };
  const row = await env.DB.prepare("SELECT history_shard, time_zone FROM accounts WHERE id = ?").bind(id).first<{ history_shard: string; time_zone: string | null }>();
  if (!row) return json({ error: { type: "not_found", message: `no directory row for ${id}` } }, 404);
  // Entry i of the whole fixture (0-based) is created at from + i·step, whatever call writes it.
  const step = (body.to_ms - body.from_ms) / Math.max(1, body.total - 1);
  const messages: HistoryMessage[] = [];
  for (let done = 0; done < body.count; done += body.per_message) {
    const entries: EntryRow[] = [];
    for (let k = done; k < Math.min(body.count, done + body.per_message); k++) {
      const seq = body.first_seq + k;
      const i = seq - body.first_total_seq;
      const [operation, quantities] = SEED_OPERATIONS[i % SEED_OPERATIONS.length] as [string, string];
      const amount = 1 + (i % 7);
      entries.push([seq, "debit", -amount, 1_000_000_000_000 - i * 4, operation, quantities, null, null, null, null, `{"request_id":"req_${seq.toString(36)}"}`, Math.round(body.from_ms + i * step)]);
    }
    messages.push({ v: 1, shard: row.history_shard, account: { id, time_zone: row.time_zone }, entries, events: [], directory: null });
  }
  let retried = 0;
  const now = new Date();
  const batch = {
    queue: HISTORY_QUEUE,
    messages: messages.map((m, i) => ({ id: `seed_${body.first_seq}_${i}`, timestamp: now, body: m, attempts: 1, ack() {}, retry() { retried++; } })),
    ackAll() {},
    retryAll() { retried += messages.length; },
  } as unknown as MessageBatch<unknown>;
  const outcome = await consumeHistory(batch, env);
  if (retried) return json({ error: { type: "seed_failed", message: `${retried} message(s) not written` }, outcome }, 500);
  return json({ shard: row.history_shard, messages: messages.length, ...outcome });
}

/** Which of the posted [account, seq] pairs have reached D1, looked up exactly in every history shard. */
async function historyProbe(request: Request, env: BenchEnv): Promise<Response> {
  const pairs = JSON.stringify(await readJson(request));
  const found: [string, number][] = [];
  await Promise.all(
    shardNames(env.HISTORY_SHARDS).map(async (shard) => {
      const { results } = await shardDb(env, shard)
        .prepare("SELECT e.account_id AS a, e.seq AS s FROM json_each(?1) AS j JOIN ledger_entries e ON e.account_id = j.value ->> 0 AND e.seq = j.value ->> 1")
        .bind(pairs)
        .all<{ a: string; s: number }>();
      for (const row of results) found.push([row.a, row.s]);
    }),
  );
  return json(found);
}

// ---- the cron sweep (sweep_10k) ---------------------------------------------------------------------

type LedgerStub = DurableObjectStub<AccountLedger>;

/** Evicts an object (AccountLedger.benchEvict); the call fails by design, and that is ignored. */
const evict = (stub: LedgerStub): Promise<void> => stub.benchEvict().catch(() => {});

/**
 * The env one sweep invocation sees: every object call (`LEDGER.get()`, then one RPC) and D1 call
 * counted. With `evictions`, once tick() has answered, the object is evicted through a call that is not
 * the sweep's and is not counted (under the alarm hold `all` the tick set no alarm: see the constructor);
 * the promises are collected so the route can wait for them after timing the invocation.
 */
function sweepEnv(env: BenchEnv, counts: { objectCalls: number }, tally: D1Tally, evictions: Promise<void>[] | null): BenchEnv {
  const namespace = env.LEDGER as unknown as DurableObjectNamespace<AccountLedger>;
  const ledgers = new Proxy(namespace, {
    get(target, prop) {
      if (prop === "get") {
        return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => {
          counts.objectCalls++;
          const stub = target.get(id, options);
          if (!evictions) return stub;
          return new Proxy(stub, {
            get(s, p) {
              if (p !== "tick") return Reflect.get(s, p, s);
              return async () => {
                const answer = await s.tick();
                evictions.push(evict(target.get(id)));
                return answer;
              };
            },
          });
        };
      }
      return forward(target, prop);
    },
  });
  return new Proxy(countingEnv(env, tally), {
    get(target, prop, receiver) {
      return prop === "LEDGER" ? ledgers : Reflect.get(target, prop, receiver);
    },
  });
}

/**
 * `parallel` invocations of the real scheduled handler (workers/cron/index.ts) at once, with one
 * controller: the cron's every-5-minutes schedule, scheduledTime now (as a retry or a duplicate
 * delivery of the same tick would have). Each reports its wall time, what handleScheduled() returned,
 * and its subrequests: object calls and D1 calls (reads, write transactions), the two kinds Workers
 * count against the 10,000 per invocation.
 */
async function sweepRoute(env: BenchEnv, parallel: number, evictAfterTick: boolean): Promise<Response> {
  const controller = { scheduledTime: Date.now(), cron: "*/5 * * * *", noRetry() {} } as ScheduledController;
  const evictions: Promise<void>[] | null = evictAfterTick ? [] : null;
  const invocations = await Promise.all(
    Array.from({ length: parallel }, async () => {
      const counts = { objectCalls: 0 };
      const tally = newTally();
      const started = Date.now(); // advances across I/O, which every step of the sweep is
      try {
        const outcome = await handleScheduled(controller, sweepEnv(env, counts, tally, evictions));
        const d1Calls = tally.writes + tally.reads;
        return { wall_ms: Date.now() - started, outcome, object_calls: counts.objectCalls, d1_calls: d1Calls, subrequests: counts.objectCalls + d1Calls };
      } catch (err) {
        return { wall_ms: Date.now() - started, error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) };
      }
    }),
  );
  if (evictions) await Promise.all(evictions);
  return json({ scheduled_time: controller.scheduledTime, invocations, evicted: evictions?.length ?? 0 }, invocations.some((i) => "error" in i) ? 500 : 200);
}

/** POST /bench/expire_counts: [id, …] → [{ expires, datedAtExpiry, unsettled } | null, …] in the same order. */
async function expireCounts(request: Request, env: BenchEnv): Promise<Response> {
  const ids = (await readJson(request)) as string[];
  const answers = await mapLimit(ids, 50, async (id) => {
    const answer = await ledger(env, id).benchExpiries();
    await evict(ledger(env, id));
    return answer;
  });
  const failed = answers.findIndex((a) => a instanceof Failure);
  if (failed >= 0) return json({ error: { type: "failed", message: `${ids[failed]}: ${String((answers[failed] as Failure).error)}` } }, 500);
  return json(answers);
}

const WITH_ID = ["naive_d1", "seed_journal", "history_seed", "audit", "p/ledger_write", "p/ledger_reads_write", "p/ledger_three_writes", "p/debit_rpc_noidem", "p/debit_rpc", "p/debit_validated"];
const DEBIT_ONE = { amount: 1, operation: null, quantities: null, description: null, metadata: null };

async function benchRoute(request: Request, env: BenchEnv, path: string): Promise<Response> {
  let name = path.slice("/bench/".length);
  let id: string | undefined;
  for (const prefix of WITH_ID) {
    if (name.startsWith(`${prefix}/`)) {
      id = decodeURIComponent(name.slice(prefix.length + 1));
      name = prefix;
      break;
    }
  }
  // The ceilings are GETs; a POST to one (a profiling variant) has its body read so the connection stays usable.
  if (request.body && (name === "noop" || name === "do_ceiling" || name === "do_write_ceiling" || name === "p/ledger_write")) {
    await request.arrayBuffer();
  }
  switch (name) {
    case "noop":
      return new Response(NOOP_BODY, { headers: JSON_HEADERS });
    case "do_ceiling":
      return json({ ok: await ceiling(env).nothing() });
    case "do_write_ceiling":
      return json({ ok: await ceiling(env).write() });
    case "naive_d1":
      return naiveDebit(request, env, id as string);
    case "seed_journal": {
      const body = (await readJson(request)) as { count: number; idempotency?: boolean };
      return json(await ledger(env, id as string).benchSeed(body.count, body.idempotency !== false));
    }
    case "p/auth":
      await authenticate(env, request.headers.get("authorization") ?? undefined);
      return new Response(NOOP_BODY, { headers: JSON_HEADERS });
    case "p/ledger_write":
      return json({ ok: await ledger(env, id as string).benchWrite() });
    case "stats":
      return json({
        ...queueStats,
        alarm_runs: alarmRuns,
        alarms_held: alarmsHeld,
        alarms_not_set: alarmsNotSet,
        // D1 write transactions made by the history consumer (each batch() is one), all databases.
        d1_write_batches: consumerD1.writes,
        // History messages (one per object flush, or per piece of a large one) consumed, redeliveries included.
        history_messages: queueStats.history_messages,
        consumer_d1: consumerD1,
        dead_letter_d1: deadLetterD1,
        object_d1: objectD1,
      });
    case "history_seed":
      return historySeed(request, env, id as string);
    case "history_probe":
      return historyProbe(request, env);
    case "audit":
      return json(await ledger(env, id as string).audit());
    case "alarms": {
      const params = new URL(request.url).searchParams;
      const mode = params.get("hold");
      if (mode !== "none" && mode !== "expiries" && mode !== "all") return json({ error: { type: "invalid_request", message: "hold: none, expiries or all" } }, 400);
      alarmHold.mode = mode;
      alarmHold.prefix = params.get("prefix") ?? "";
      // An object answers with the hold it sees: the same only if it runs in this isolate.
      const seen = await ledger(env, "bench_isolate_probe").benchAlarmHold();
      return json({ hold: alarmHold, seen_by_object: seen, alarms_held: alarmsHeld });
    }
    case "resume_alarms": {
      const ids = (await readJson(request)) as string[];
      const answers = await mapLimit(ids, 50, (id) => ledger(env, id).benchResumeAlarm());
      return json({ resumed: answers.filter((a) => a === true).length, failed: answers.filter((a) => a instanceof Failure).length });
    }
    case "sweep": {
      const params = new URL(request.url).searchParams;
      const parallel = Number(params.get("parallel") ?? "1");
      if (!Number.isInteger(parallel) || parallel < 1 || parallel > 10) return json({ error: { type: "invalid_request", message: "parallel: 1 to 10" } }, 400);
      return sweepRoute(env, parallel, params.get("evict") === "1");
    }
    case "evict": {
      const ids = (await readJson(request)) as string[];
      await mapLimit(ids, 50, (id) => evict(ledger(env, id)));
      return json({ evicted: ids.length });
    }
    case "expire_counts":
      return expireCounts(request, env);
    case "p/ledger_reads_write":
      return json({ ok: await ledger(env, id as string).benchReadsThenWrite(request.headers.get("idempotency-key") as string) });
    case "p/ledger_three_writes":
      return json({ ok: await ledger(env, id as string).benchThreeWrites() });
    case "p/debit_rpc_noidem":
      // The product's debit with no idempotency (mutate() skips the replay check and the stored reply).
      return send(await ledger(env, id as string).debit(null as never, DEBIT_ONE));
    case "p/debit_rpc": {
      const key = request.headers.get("idempotency-key") as string;
      return send(await ledger(env, id as string).debit({ key, fingerprint: "bench" }, DEBIT_ONE));
    }
    case "p/debit_validated": {
      const parsed = ChargeBody.safeParse(await readJson(request));
      if (!parsed.success) return json({ error: { type: "invalid_request" } }, 400);
      const body = parsed.data;
      const key = request.headers.get("idempotency-key") as string;
      const fingerprint = await sha256Hex(`debit:${id}\n${JSON.stringify(body)}`);
      const priced = await priceCharge(env, body);
      const reply = await ledger(env, id as string).debit({ key, fingerprint }, chargeOf(priced, body));
      return send(reply);
    }
    default:
      return json({ error: { type: "not_found", message: `No bench route ${path}` } }, 404);
  }
}

export default {
  fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/bench/")) return benchRoute(request, env, path);
    return app.fetch(request, env, ctx);
  },
  /** The real queue() (workers/queue/index.ts), with its D1 calls, messages and retries counted. */
  queue(batch, env) {
    if (batch.queue === HISTORY_QUEUE) {
      queueStats.history_batches++;
      queueStats.history_messages += batch.messages.length;
      const now = Date.now();
      for (const message of batch.messages) {
        queueStats.queue_wait_ms_sum += now - message.timestamp.getTime();
        const newest = (message.body as Partial<HistoryMessage> | null)?.entries?.at(-1);
        if (newest) {
          queueStats.entry_age_ms_sum += now - newest[11];
          queueStats.entry_messages++;
        }
      }
    } else if (batch.queue === HISTORY_DEAD_LETTER_QUEUE) {
      queueStats.dead_letter_batches++;
      queueStats.dead_letter_messages += batch.messages.length;
    }
    return handleQueue(countingBatch(batch), countingEnv(env, batch.queue === HISTORY_QUEUE ? consumerD1 : deadLetterD1));
  },
} satisfies ExportedHandler<BenchEnv>;
