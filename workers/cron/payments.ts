// The charged ⇒ credited pass (stripe/recover.ts), run with reconciliation: the window it covers, its
// record in cron_runs, and each repair in payment_repairs for the admin health view.
//
// The window ends PAYMENT_RECOVERY_GRACE_SECONDS before now, so a webhook on its way lands first, and
// starts SESSION_LIFETIME_MS before where the last complete pass ended: a Checkout Session is listed by
// when it was created, and its buyer may pay up to 24 hours later. A pass that stops early (its budget,
// a failure) leaves the start where it was, so the next pass looks at the same payments again.
import { recoverPayments, type RecoveryResult, type Repair } from "../stripe/recover";
import { stripeClient } from "../stripe/client";
import type { Env } from "../env";
import { countStatement, finishRun, startRun } from "./runs";

/** A Checkout Session can be paid until it expires, 24 hours after it was created (and a margin). */
export const SESSION_LIFETIME_MS = 25 * 3_600_000;
/** How far back the very first pass (or one after a long outage) looks at most. */
export const MAX_LOOKBACK_MS = 7 * 24 * 3_600_000;
const CHECKED_THROUGH = "payments_checked_through";

export interface PaymentsPassSettings {
  scheduledTime: number;
  deadline: number;
  graceMs: number;
  maxObjects: number;
}

export type PaymentsPassResult =
  | { status: "not_configured" }
  | { status: "done" | "incomplete"; runId: string; from: number; to: number; checked: number; repaired: number; failures: number };

async function checkedThrough(db: D1Database): Promise<number | null> {
  const row = await db.prepare("SELECT value FROM system_state WHERE key = ?").bind(CHECKED_THROUGH).first<{ value: string }>();
  return row ? Number(row.value) : null;
}

function recordRepair(db: D1Database, runId: string, r: Repair, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO payment_repairs (stripe_object, kind, run_id, account_id, credits, amount, currency, outcome, repaired_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
       ON CONFLICT (stripe_object) DO UPDATE SET outcome = excluded.outcome, run_id = excluded.run_id, repaired_at = excluded.repaired_at`,
    )
    .bind(r.stripeObject, r.kind, runId, r.accountId, r.credits, r.amount, r.currency, r.outcome, now);
}

export async function paymentsPass(env: Env, settings: PaymentsPassSettings): Promise<PaymentsPassResult> {
  const stripe = stripeClient(env);
  if (!stripe) return { status: "not_configured" };
  const db = env.DB;
  const now = Date.now();
  const to = now - settings.graceMs;
  const through = await checkedThrough(db);
  const from = Math.max(to - MAX_LOOKBACK_MS, (through ?? to) - SESSION_LIFETIME_MS);
  const run = await startRun(db, "payments", settings.scheduledTime, now, String(from));
  let result: RecoveryResult;
  try {
    result = await recoverPayments(env, stripe, { from, to }, { deadline: settings.deadline, maxObjects: settings.maxObjects }, now);
  } catch (err) {
    // Stripe could not be listed (an outage, a revoked key): the pass is recorded as failed and the
    // next one covers this window again.
    console.error("payments pass: listing Stripe failed", err);
    result = { checked: 0, repairs: [], failures: 1, complete: false };
  }
  const finished = Date.now();
  await db.batch([
    ...result.repairs.map((r) => recordRepair(db, run.id, r, finished)),
    countStatement(db, run.id, { accounts: result.checked, failures: result.failures }),
    ...(result.complete
      ? [
          db
            .prepare(
              `INSERT INTO system_state (key, value, updated_at) VALUES (?1, ?2, ?3)
               ON CONFLICT (key) DO UPDATE SET value = max(CAST(system_state.value AS INTEGER), CAST(excluded.value AS INTEGER)), updated_at = excluded.updated_at`,
            )
            .bind(CHECKED_THROUGH, String(to), finished),
        ]
      : []),
  ]);
  await finishRun(db, run.id, finished);
  const repaired = result.repairs.filter((r) => r.outcome.startsWith("credited") || r.outcome === "card_saved").length;
  if (repaired > 0) console.warn(`payments pass: applied ${repaired} payment(s) whose webhook had not: ${result.repairs.map((r) => r.stripeObject).join(", ")}`);
  return { status: result.complete ? "done" : "incomplete", runId: run.id, from, to, checked: result.checked, repaired, failures: result.failures };
}
