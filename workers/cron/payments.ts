// The charged ⇒ credited pass (stripe/recover.ts), run with reconciliation: its cursor in Stripe's
// event log, its record in cron_runs, each repair in payment_repairs and each event it could not
// apply in payment_retries, all for the admin health view.
//
// The log is read up to PAYMENT_RECOVERY_GRACE_SECONDS before now, so a webhook on its way lands first.
// The cursor moves forward whatever happens to single events (those that fail are kept and tried
// again by later passes, with a growing pause); only a failure to read the log leaves it where it was.

import type Stripe from "stripe";
import { stripeClient } from "../stripe/client";
import { queryBudget } from "../db/query-budget";
import { LOG_RETENTION_SECONDS, retryKept, walkLog, type LogCursor, type PageProgress, type Repair } from "../stripe/recover";
import type { Env } from "../env";
import { countStatement, finishRun, startRun } from "./runs";

/** Where a deployment's first pass starts reading the log: a day back (its webhook covered the rest). */
export const FIRST_LOOKBACK_SECONDS = 24 * 3600;
/** List calls one pass makes at most (each is a subrequest of the hourly invocation). */
const MAX_LIST_CALLS = 500;
/** Kept events one pass tries again at most. */
const RETRIES_PER_PASS = 50;
const RETRY_PAUSE_MS = 3_600_000;
const RETRY_PAUSE_MAX_MS = 24 * 3_600_000;
const CURSOR_KEY = "payments_log_cursor";
/** Where the pass of older versions had checked through (ms), read once to start the cursor. */
const LEGACY_CHECKED_THROUGH = "payments_checked_through";

export interface PaymentsPassSettings {
  scheduledTime: number;
  deadline: number;
  graceMs: number;
  /** Events applied at most (each may call an account's object). */
  maxObjects: number;
  /** D1 queries the pass may use of the invocation's 1,000. */
  maxQueries: number;
}

export type PaymentsPassResult =
  | { status: "not_configured" }
  | { status: "done" | "incomplete"; runId: string; from: number; to: number; checked: number; repaired: number; failures: number };

async function stateValue(db: D1Database, key: string): Promise<string | null> {
  return (await db.prepare("SELECT value FROM system_state WHERE key = ?").bind(key).first<{ value: string }>())?.value ?? null;
}

/** The saved cursor, never older than Stripe's log keeps. */
async function loadCursor(db: D1Database, until: number): Promise<LogCursor> {
  const oldest = until - LOG_RETENTION_SECONDS;
  const saved = await stateValue(db, CURSOR_KEY);
  if (saved) {
    const cursor = JSON.parse(saved) as LogCursor;
    return cursor.at < oldest ? { at: oldest, after: null } : cursor;
  }
  const legacy = await stateValue(db, LEGACY_CHECKED_THROUGH);
  const start = Math.min(until, legacy === null ? until : Math.floor(Number(legacy) / 1000)) - FIRST_LOOKBACK_SECONDS;
  return { at: Math.max(oldest, start), after: null };
}

function recordRepair(db: D1Database, runId: string, r: Repair, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO payment_repairs (stripe_object, kind, run_id, account_id, credits, amount, currency, outcome, repaired_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
       ON CONFLICT (stripe_object) DO UPDATE SET kind = excluded.kind, outcome = excluded.outcome, run_id = excluded.run_id, repaired_at = excluded.repaired_at`,
    )
    .bind(r.stripeObject, r.kind, runId, r.accountId, r.credits, r.amount, r.currency, r.outcome, now);
}

/** An event that failed again waits longer: an hour, doubling up to a day. */
function keepFailed(db: D1Database, f: PageProgress["failed"][number], now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO payment_retries (event_id, type, event, attempts, last_error, first_failed_at, next_attempt_at)
       VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5 + ?6)
       ON CONFLICT (event_id) DO UPDATE SET attempts = payment_retries.attempts + 1, last_error = excluded.last_error,
         next_attempt_at = ?5 + min(?7, ?6 * (1 << min(payment_retries.attempts, 10)))`,
    )
    .bind(f.event.id, f.event.type, JSON.stringify(f.event), f.error.slice(0, 500), now, RETRY_PAUSE_MS, RETRY_PAUSE_MAX_MS);
}

async function keptEvents(db: D1Database, now: number): Promise<Stripe.Event[]> {
  const rows = await db
    .prepare("SELECT event FROM payment_retries WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?")
    .bind(now, RETRIES_PER_PASS)
    .all<{ event: string }>();
  return rows.results.map((r) => JSON.parse(r.event) as Stripe.Event);
}

export async function paymentsPass(env: Env, settings: PaymentsPassSettings): Promise<PaymentsPassResult> {
  const stripe = stripeClient(env);
  if (!stripe) return { status: "not_configured" };
  // Everything the pass asks of D1 is counted, so it stops while it can still write down its progress.
  const budget = queryBudget(env.DB, settings.maxQueries);
  const db = budget.db;
  const now = Date.now();
  const until = Math.floor((now - settings.graceMs) / 1000);
  // Events of the last second may still be being written: the cursor never moves past a second that
  // was not over (the next pass reads it again, which applyOnce makes harmless).
  const settled = Math.floor(now / 1000) - 1;
  const start = await loadCursor(db, until);
  const run = await startRun(db, "payments", settings.scheduledTime, now, JSON.stringify(start));
  let repaired = 0;
  let failures = 0;
  const record = async (progress: Pick<PageProgress, "repairs" | "failed">, extra: D1PreparedStatement[] = []) => {
    const at = Date.now();
    repaired += progress.repairs.length;
    failures += progress.failed.length;
    const statements = [...progress.repairs.map((r) => recordRepair(db, run.id, r, at)), ...progress.failed.map((f) => keepFailed(db, f, at)), ...extra];
    if (statements.length > 0) await db.batch(statements);
  };

  const kept = await keptEvents(db, now);
  const retried = await retryKept(env, kept, budget, now);
  const failedAgain = new Set(retried.progress.failed.map((f) => f.event.id));
  await record(retried.progress, retried.tried.filter((e) => !failedAgain.has(e.id)).map((e) => db.prepare("DELETE FROM payment_retries WHERE event_id = ?").bind(e.id)));

  let walked = { checked: 0, applied: 0, complete: false, cursor: start };
  try {
    const limits = { deadline: settings.deadline, maxObjects: settings.maxObjects, maxCalls: MAX_LIST_CALLS, budget };
    walked = await walkLog(env, stripe, start, until, limits, now, (page) => {
      const cursor: LogCursor = page.cursor.at > settled ? { at: settled, after: null } : page.cursor;
      return record(page, [saveCursor(db, cursor)]);
    });
  } catch (err) {
    // The log could not be read (an outage, a revoked key): the cursor stays at the last page saved.
    console.error("payments pass: reading Stripe's event log failed", err);
    failures++;
  }
  const finished = Date.now();
  await countStatement(db, run.id, { accounts: retried.tried.length + walked.checked, failures }).run();
  await finishRun(db, run.id, finished);
  if (repaired > 0) console.warn(`payments pass: applied ${repaired} Stripe event(s) whose webhook had not`);
  return {
    status: walked.complete ? "done" : "incomplete",
    runId: run.id,
    from: start.at * 1000,
    to: until * 1000,
    checked: retried.tried.length + walked.checked,
    repaired,
    failures,
  };
}

function saveCursor(db: D1Database, cursor: LogCursor): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO system_state (key, value, updated_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    )
    .bind(CURSOR_KEY, JSON.stringify(cursor), Date.now());
}
