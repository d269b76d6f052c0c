// The cron's settings ([vars] in wrangler.toml), parsed strictly: a typo fails the run loudly rather
// than sweep with a budget nobody chose.
//
// The defaults keep one invocation under Workers' 10,000 subrequests: a sweep calls at most 5,000
// objects plus two D1 statements per 100; the hourly invocation that also reconciles checks at most
// 1,500 touched + 200 sampled accounts at one object call and one D1 query each (a repair adds a few),
// then the charged ⇒ credited pass reads Stripe's event log with a budget of its own: 300 D1 queries
// (one per page of 100 events the webhook already applied; up to 14 for each event it applies), 500
// events applied, 500 list calls.

import type { Env } from "../env";

export interface CronSettings {
  /** Wall time one invocation spends sweeping before it leaves the rest to the next. */
  sweepBudgetMs: number;
  /** Accounts one invocation calls at most (each call is a subrequest; Workers allow 10,000). */
  sweepMaxAccounts: number;
  /** Objects called at once. */
  concurrency: number;
  /** The cron expression whose invocations also reconcile D1 against the objects. */
  reconcileCron: string;
  /** Accounts a reconciliation pass samples beyond those touched since the last pass. */
  reconcileSample: number;
  /** Touched accounts one pass checks at most; the next pass goes on from where it stopped. */
  reconcileMaxAccounts: number;
  /** The charged ⇒ credited pass leaves payments younger than this to their webhook. */
  paymentGraceMs: number;
  /** Stripe events one charged ⇒ credited pass applies at most (each may call an account's object). */
  paymentMaxObjects: number;
  /** D1 queries the charged ⇒ credited pass may use of the invocation's 1,000. */
  paymentMaxQueries: number;
}

function whole(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, not '${value}'`);
  return n;
}

export function cronSettings(env: Env): CronSettings {
  return {
    sweepBudgetMs: whole("SWEEP_BUDGET_SECONDS", env.SWEEP_BUDGET_SECONDS, 20, 1, 840) * 1000,
    sweepMaxAccounts: whole("SWEEP_MAX_ACCOUNTS", env.SWEEP_MAX_ACCOUNTS, 5000, 1, 9000),
    concurrency: whole("SWEEP_CONCURRENCY", env.SWEEP_CONCURRENCY, 25, 1, 500),
    reconcileCron: env.RECONCILE_CRON ?? "17 * * * *",
    reconcileSample: whole("RECONCILE_SAMPLE", env.RECONCILE_SAMPLE, 200, 0, 5000),
    reconcileMaxAccounts: whole("RECONCILE_MAX_ACCOUNTS", env.RECONCILE_MAX_ACCOUNTS, 1500, 1, 5000),
    paymentGraceMs: whole("PAYMENT_RECOVERY_GRACE_SECONDS", env.PAYMENT_RECOVERY_GRACE_SECONDS, 600, 0, 86_400) * 1000,
    paymentMaxObjects: whole("PAYMENT_RECOVERY_MAX_OBJECTS", env.PAYMENT_RECOVERY_MAX_OBJECTS, 500, 10, 5000),
    paymentMaxQueries: whole("PAYMENT_RECOVERY_MAX_QUERIES", env.PAYMENT_RECOVERY_MAX_QUERIES, 300, 50, 900),
  };
}
