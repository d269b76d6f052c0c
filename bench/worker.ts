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
//   GET  /bench/stats                  how many ledger alarms (history shipping) have run so far
//   GET  /bench/audit/{id}             the object's own audit(): Σ journal and balance, after the load
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
import { chargeOf, priceCharge } from "../workers/catalog/prices";
import type { Env } from "../workers/env";
import { authenticate } from "../workers/http/auth";
import { sha256Hex } from "../workers/http/crypto";
import { send } from "../workers/http/send";

/**
 * The product's AccountLedger plus bench-only hooks. `benchSeed` plays the part of vitest's
 * runInDurableObject: it writes rows straight into this object's SQLite with the product's own schema
 * (the product code decides the schema, this only fills it). The bench* methods are profiling
 * variants, and alarm() only counts runs (and skips them for p_noship… accounts). Every product method
 * is inherited as is, so the real routes run the real code.
 */
export class AccountLedger extends ProductLedger {
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

  /** Profiling: accounts named p_noship… never ship history (their alarm does nothing), to price shipping. */
  override async alarm(): Promise<void> {
    if (this.ctx.id.name?.startsWith("p_noship")) return;
    alarmRuns++;
    return super.alarm();
  }
}

/** How many times a ledger's alarm (expiry, history shipping, pruning) has run in this isolate. */
let alarmRuns = 0;

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

const WITH_ID = ["naive_d1", "seed_journal", "audit", "p/ledger_write", "p/ledger_reads_write", "p/ledger_three_writes", "p/debit_rpc_noidem", "p/debit_rpc", "p/debit_validated"];
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
      return json({ alarm_runs: alarmRuns });
    case "audit":
      return json(await ledger(env, id as string).audit());
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
} satisfies ExportedHandler<BenchEnv>;
