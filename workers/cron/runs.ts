// The record of each pass of the cron's work (D1 `cron_runs`): when it started and finished, how many
// accounts it did, how many failed. A pass that outlives its invocation is continued by the next one.

import type { Env } from "../env";

export type RunKind = "sweep" | "reconcile" | "payments";

export interface Run {
  id: string;
  kind: RunKind;
  startedAt: number;
  cutoff: number;
  cursor: string | null;
}

interface RunRow {
  id: string;
  kind: RunKind;
  started_at: number;
  cutoff: number;
  cursor: string | null;
}

const toRun = (r: RunRow): Run => ({ id: r.id, kind: r.kind, startedAt: r.started_at, cutoff: r.cutoff, cursor: r.cursor });

/** The oldest pass of this kind still unfinished, now with one more invocation working on it. */
export async function continueRun(db: D1Database, kind: RunKind): Promise<Run | null> {
  const row = await db
    .prepare(
      `UPDATE cron_runs SET invocations = invocations + 1
       WHERE id = (SELECT id FROM cron_runs WHERE kind = ?1 AND finished_at IS NULL ORDER BY started_at LIMIT 1)
       RETURNING id, kind, started_at, cutoff, cursor`,
    )
    .bind(kind)
    .first<RunRow>();
  return row ? toRun(row) : null;
}

/**
 * A new pass for the invocation scheduled at `cutoff`. Invocations of the same schedule that overlap
 * (a retry, a manual trigger) join the same pass rather than start a second one.
 */
export async function startRun(db: D1Database, kind: RunKind, cutoff: number, startedAt: number, cursor: string | null = null): Promise<Run> {
  const row = await db
    .prepare(
      `INSERT INTO cron_runs (id, kind, started_at, cutoff, cursor) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (id) DO UPDATE SET invocations = invocations + 1
       RETURNING id, kind, started_at, cutoff, cursor`,
    )
    .bind(`${kind}_${cutoff}`, kind, startedAt, cutoff, cursor)
    .first<RunRow>();
  return toRun(row as RunRow);
}

export function countStatement(db: D1Database, runId: string, counts: Partial<Record<"accounts" | "failures" | "entries_repaired" | "events_repaired" | "drift_accounts", number>>): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE cron_runs SET accounts = accounts + ?2, failures = failures + ?3, entries_repaired = entries_repaired + ?4,
         events_repaired = events_repaired + ?5, drift_accounts = drift_accounts + ?6 WHERE id = ?1`,
    )
    .bind(runId, counts.accounts ?? 0, counts.failures ?? 0, counts.entries_repaired ?? 0, counts.events_repaired ?? 0, counts.drift_accounts ?? 0);
}

/** Marks the pass finished (once: a second invocation finishing it too changes nothing). */
export async function finishRun(db: D1Database, runId: string, at: number, cursor: string | null = null): Promise<void> {
  await db.prepare("UPDATE cron_runs SET finished_at = ?2, cursor = coalesce(?3, cursor) WHERE id = ?1 AND finished_at IS NULL").bind(runId, at, cursor).run();
}

export interface RunView {
  id: string;
  started_at: number;
  finished_at: number | null;
  cutoff: number;
  invocations: number;
  accounts: number;
  failures: number;
  entries_repaired: number;
  events_repaired: number;
  drift_accounts: number;
  cursor: string | null;
}

/** The latest pass of a kind, finished or not. */
export async function latestRun(env: Env, kind: RunKind, finishedOnly = false): Promise<RunView | null> {
  return env.DB.prepare(
    `SELECT id, started_at, finished_at, cutoff, invocations, accounts, failures, entries_repaired, events_repaired, drift_accounts, cursor
     FROM cron_runs WHERE kind = ?1 ${finishedOnly ? "AND finished_at IS NOT NULL" : ""} ORDER BY started_at DESC LIMIT 1`,
  )
    .bind(kind)
    .first<RunView>();
}
