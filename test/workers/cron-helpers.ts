// What the cron tests share: driving scheduled() as the runtime does, fixing an object's clock, and
// reading an account's history back from its shard.
import { createScheduledController, env, runInDurableObject } from "cloudflare:test";
import type { AccountLedger } from "../../durable-objects/account-ledger";
import worker from "../../workers/index";
import { historyOf, ledger } from "./helpers";

/** The sweep's schedule in wrangler.toml, and the one that also reconciles. */
export const SWEEP_CRON = "*/5 * * * *";
export const RECONCILE_CRON = "17 * * * *";

/** Runs the Worker's scheduled() handler as a Cron Trigger scheduled at `at` would. */
export async function runCron(at: number, cron = SWEEP_CRON, overrides: Record<string, string> = {}): Promise<void> {
  // The handler awaits all its work (it uses no waitUntil), so its promise is the whole run.
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron }), { ...env, ...overrides } as never);
}

/** Stops the object's clock at `at` (it stays there until set again). */
export async function setClock(id: string, at: number): Promise<void> {
  await runInDurableObject(ledger(id), (instance: AccountLedger) => {
    instance.clock = () => at;
  });
}

export interface HistoryRow {
  seq: number;
  kind: string;
  amount: number;
  created_at: string;
  lot_id: string | null;
  metadata: Record<string, unknown> | null;
}

/** The account's entries in D1 after `afterSeq`, in order, with ISO times. */
export async function historyRows(id: string, afterSeq = 0): Promise<HistoryRow[]> {
  const rows = await (await historyOf(id))
    .prepare("SELECT seq, kind, amount, created_at, lot_id, metadata FROM ledger_entries WHERE account_id = ? AND seq > ? ORDER BY seq")
    .bind(id, afterSeq)
    .all<{ seq: number; kind: string; amount: number; created_at: number; lot_id: string | null; metadata: string | null }>();
  return rows.results.map((r) => ({ ...r, created_at: new Date(r.created_at).toISOString(), metadata: r.metadata ? JSON.parse(r.metadata) : null }));
}

/** The account's events in D1, oldest first. */
export async function eventRows(id: string): Promise<{ seq: number; type: string; data: Record<string, unknown>; created_at: string }[]> {
  const rows = await (await historyOf(id))
    .prepare("SELECT seq, type, data, created_at FROM account_events WHERE account_id = ? ORDER BY seq")
    .bind(id)
    .all<{ seq: number; type: string; data: string; created_at: number }>();
  return rows.results.map((r) => ({ ...r, data: JSON.parse(r.data), created_at: new Date(r.created_at).toISOString() }));
}

/** The latest cron pass of a kind, as recorded in D1. */
export async function latestPass(kind: "sweep" | "reconcile" | "payments") {
  return env.DB.prepare("SELECT * FROM cron_runs WHERE kind = ? ORDER BY started_at DESC LIMIT 1").bind(kind).first<Record<string, number | string | null>>();
}

/** The object's own journal (kind, amount, created_at), read from its storage: what it wrote, shipped or not. */
export async function journalOf(id: string): Promise<{ kind: string; amount: number; created_at: string }[]> {
  return runInDurableObject(ledger(id), (_instance, state) =>
    state.storage.sql
      .exec("SELECT kind, amount, created_at FROM journal ORDER BY seq")
      .toArray()
      .map((r) => ({ kind: r.kind as string, amount: r.amount as number, created_at: new Date(r.created_at as number).toISOString() })),
  );
}

/**
 * Points the charged ⇒ credited pass's cursor at the last second (Unix seconds): its next walk of
 * Stripe's log starts there. Every test file shares one fake Stripe, whose log holds what all of them
 * paid; a test about its own payments starts the walk where they start.
 */
export async function paymentsPassFrom(at = Math.floor(Date.now() / 1000) - 1): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO system_state (key, value, updated_at) VALUES ('payments_log_cursor', ?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  )
    .bind(JSON.stringify({ at, after: null }), Date.now())
    .run();
}

/**
 * Runs the hourly invocation (grace 0: every payment made so far is old enough) until the charged ⇒
 * credited pass has walked Stripe's log up to now. One pass does a budget's worth, and every test
 * file shares one fake Stripe whose log other files are writing to at the same time: waiting for the
 * walk to finish, not for one pass, is what a test about its own payments can rely on. Gives up after
 * `maxPasses` (a pass that makes no progress is a failure the assertions that follow will show).
 */
export async function catchUpPayments(overrides: Record<string, string> = {}, maxPasses = 10): Promise<void> {
  for (let pass = 0; pass < maxPasses; pass++) {
    await runCron(Date.now(), RECONCILE_CRON, { PAYMENT_RECOVERY_GRACE_SECONDS: "0", ...overrides });
    const saved = await env.DB.prepare("SELECT value FROM system_state WHERE key = 'payments_log_cursor'").first<{ value: string }>();
    const cursor = saved ? (JSON.parse(saved.value) as { at: number; after: string | null }) : null;
    if (cursor && cursor.after === null && cursor.at >= Math.floor(Date.now() / 1000) - 2) return;
  }
}
