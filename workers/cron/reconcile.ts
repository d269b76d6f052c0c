// Reconciliation: D1's history against the objects. For every account touched since the last pass
// (its directory row changed), every account with a dead-lettered history message, and a rolling sample
// of the rest, the object says how much history it had handed to the Queue a few minutes ago (entries
// 1 … n summing to s, events 1 … m: seqs have no gaps), and the account's shard is asked the same. What
// the shard lacks is read straight from the object and written with the consumer's own idempotent
// statements; what was found is recorded per account (`history_drift`) and per pass (`cron_runs`).

import type { HistorySummary } from "../../durable-objects/account-ledger";
import { ledgerOf } from "../api/ledger";
import { shardDb } from "../db/shards";
import type { Env } from "../env";
import { HistoryMessage } from "../queue/history-message";
import { shardStatements } from "../queue/history-writes";
import { Failure, mapLimit } from "./pool";
import { countStatement, finishRun, latestRun, startRun } from "./runs";

/** History sent to the Queue more recently than this may still be on its way to D1: not drift. */
export const SETTLE_GRACE_MS = 5 * 60_000;
/** Rows one account gets back per pass (each of entries and events); a larger hole is filled over the following passes. */
export const MAX_REPAIR_ROWS = 5000;
/** Gaps looked up per table per account per pass. */
const MAX_GAPS = 200;

export interface ReconcileOptions {
  scheduledTime: number;
  deadline: number;
  sample: number;
  maxAccounts: number;
  concurrency: number;
  /** Default MAX_REPAIR_ROWS. */
  maxRepairRows?: number;
}

export interface AccountDrift {
  accountId: string;
  shard: string;
  missingEntries: number;
  missingEvents: number;
  sumDifference: number;
  entriesRepaired: number;
  eventsRepaired: number;
  unresolvedDifference: number;
}

export interface ReconcileResult {
  run: string;
  checked: number;
  failures: number;
  drift: AccountDrift[];
}

/**
 * Where the previous pass left off: the (updated_at, id) of the last touched account it checked (many
 * accounts can share a millisecond), and the sample's last id.
 */
interface Cursor {
  touchedAfter: number;
  touchedAfterId?: string;
  sampleAfter: string;
}

export async function reconcile(env: Env, options: ReconcileOptions): Promise<ReconcileResult> {
  const previous = await latestRun(env, "reconcile", true);
  const from: Cursor = previous?.cursor ? (JSON.parse(previous.cursor) as Cursor) : { touchedAfter: -1, sampleAfter: "" };
  const run = await startRun(env.DB, "reconcile", options.scheduledTime, Date.now(), previous?.cursor ?? null);
  const lists = await accountsToCheck(env.DB, from, previous?.id ?? "", options);
  const ids = [...new Set([...lists.touched.map((r) => r.id), ...lists.unresolved, ...lists.sample])];
  const settledBefore = options.scheduledTime - SETTLE_GRACE_MS;
  const result: ReconcileResult = { run: run.id, checked: 0, failures: 0, drift: [] };
  const answers = await mapLimit(ids, options.concurrency, (id) => (Date.now() < options.deadline ? checkAccount(env, id, settledBefore, options.maxRepairRows ?? MAX_REPAIR_ROWS) : Promise.resolve(undefined)));
  const statements: D1PreparedStatement[] = [];
  const now = Date.now();
  for (const [i, answer] of answers.entries()) {
    const id = ids[i] as string;
    if (answer === undefined) continue;
    if (answer instanceof Failure) {
      result.failures++;
      console.error(`reconcile ${run.id}: account ${id} failed`, answer.error);
      continue;
    }
    result.checked++;
    if (answer === null) continue;
    if (answer.drift) {
      result.drift.push(answer.drift);
      statements.push(driftStatement(env.DB, run.id, now, answer.drift));
    }
    if (!answer.drift || answer.drift.unresolvedDifference === 0) statements.push(resolveDeadLetters(env.DB, id, answer.summary, now));
  }
  statements.push(
    countStatement(env.DB, run.id, {
      accounts: result.checked,
      failures: result.failures,
      entries_repaired: sum(result.drift.map((d) => d.entriesRepaired)),
      events_repaired: sum(result.drift.map((d) => d.eventsRepaired)),
      drift_accounts: result.drift.length,
    }),
  );
  await env.DB.batch(statements);
  // Checks start in order and none starts after the deadline, so what was checked is a prefix of
  // each list: the next pass goes on from the first account this one had no time for.
  const done = new Set(ids.filter((_, i) => answers[i] !== undefined));
  const checked = (id: string) => done.has(id);
  const touchedDone = lists.touched.filter((r) => checked(r.id));
  const sampleDone = lists.sample.filter(checked);
  const cursor: Cursor = {
    touchedAfter: touchedDone.at(-1)?.updated_at ?? from.touchedAfter,
    touchedAfterId: touchedDone.at(-1)?.id ?? from.touchedAfterId ?? "",
    sampleAfter: sampleDone.length === lists.sample.length ? (lists.sample.at(-1) ?? "") : (sampleDone.at(-1) ?? from.sampleAfter),
  };
  await finishRun(env.DB, run.id, Date.now(), JSON.stringify(cursor));
  return result;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Touched since the last pass (oldest first, up to the cap); not yet resolved (dead-lettered history,
 * or drift the last pass could not wholly repair, such as a hole larger than one pass's repair); and
 * the rolling sample.
 */
async function accountsToCheck(
  db: D1Database,
  from: Cursor,
  previousRun: string,
  options: ReconcileOptions,
): Promise<{ touched: { id: string; updated_at: number }[]; unresolved: string[]; sample: string[] }> {
  const [touched, dead, drifted, sample] = await db.batch<{ id: string; updated_at: number }>([
    db
      .prepare("SELECT id, updated_at FROM accounts WHERE (updated_at, id) > (?1, ?2) ORDER BY updated_at, id LIMIT ?3")
      .bind(from.touchedAfter, from.touchedAfterId ?? "", options.maxAccounts),
    db.prepare("SELECT DISTINCT account_id AS id, 0 AS updated_at FROM history_dead_letters WHERE resolved_at IS NULL LIMIT 100"),
    db.prepare("SELECT account_id AS id, 0 AS updated_at FROM history_drift WHERE run_id = ?1 AND unresolved_difference != 0 LIMIT 100").bind(previousRun),
    db.prepare("SELECT id, 0 AS updated_at FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2").bind(from.sampleAfter, options.sample),
  ]);
  let sampled = (sample?.results ?? []).map((r) => r.id);
  // The sample wraps around: when it reaches the last id, it goes on from the first.
  if (sampled.length < options.sample && from.sampleAfter !== "") {
    const more = await db.prepare("SELECT id FROM accounts WHERE id <= ?1 ORDER BY id LIMIT ?2").bind(from.sampleAfter, options.sample - sampled.length).all<{ id: string }>();
    sampled = [...sampled, ...more.results.map((r) => r.id)];
  }
  const unresolved = [...(dead?.results ?? []), ...(drifted?.results ?? [])].map((r) => r.id);
  return { touched: touched?.results ?? [], unresolved, sample: sampled };
}

interface Check {
  summary: HistorySummary;
  drift: AccountDrift | null;
}

interface Counts {
  entries: number;
  entry_sum: number;
  events: number;
}

async function countsIn(db: D1Database, accountId: string, summary: HistorySummary): Promise<Counts> {
  const row = await db
    .prepare(
      `SELECT (SELECT count(*) FROM ledger_entries WHERE account_id = ?1 AND seq <= ?2) AS entries,
              (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account_id = ?1 AND seq <= ?2) AS entry_sum,
              (SELECT count(*) FROM account_events WHERE account_id = ?1 AND seq <= ?3) AS events`,
    )
    .bind(accountId, summary.entrySeq, summary.eventSeq)
    .first<Counts>();
  return row as Counts;
}

/** null: the account has no object (nothing to compare). */
async function checkAccount(env: Env, accountId: string, settledBefore: number, maxRepairRows: number): Promise<Check | null> {
  const ledger = ledgerOf(env, accountId);
  const summary = await ledger.historySummary(settledBefore);
  if (!summary) return null;
  const db = shardDb(env, summary.shard);
  const before = await countsIn(db, accountId, summary);
  const sumDifference = before.entry_sum - summary.entrySum;
  if (before.entries === summary.entrySeq && before.events === summary.eventSeq && sumDifference === 0) return { summary, drift: null };

  const entryGaps = before.entries < summary.entrySeq ? await gaps(db, "ledger_entries", accountId, summary.entrySeq) : [];
  const eventGaps = before.events < summary.eventSeq ? await gaps(db, "account_events", accountId, summary.eventSeq) : [];
  const ranges = { entries: capRows(entryGaps, maxRepairRows), events: capRows(eventGaps, maxRepairRows) };
  let after = before;
  if (ranges.entries.length || ranges.events.length) {
    const rows = await ledger.historyRows(ranges);
    if (rows) {
      await db.batch(shardStatements(db, [HistoryMessage.parse(rows)]));
      after = await countsIn(db, accountId, summary);
    }
  }
  return {
    summary,
    drift: {
      accountId,
      shard: summary.shard,
      missingEntries: summary.entrySeq - before.entries,
      missingEvents: summary.eventSeq - before.events,
      sumDifference,
      entriesRepaired: after.entries - before.entries,
      eventsRepaired: after.events - before.events,
      unresolvedDifference: after.entry_sum - summary.entrySum + (summary.entrySeq - after.entries) + (summary.eventSeq - after.events),
    },
  };
}

/** The runs of seqs 1 … last that the table lacks for the account, as inclusive ranges. */
async function gaps(db: D1Database, table: "ledger_entries" | "account_events", accountId: string, last: number): Promise<[number, number][]> {
  const rows = await db
    .prepare(
      `WITH present(seq) AS (SELECT 0 UNION ALL SELECT seq FROM ${table} WHERE account_id = ?1 AND seq <= ?2),
            spans AS (SELECT seq + 1 AS first, coalesce(lead(seq) OVER (ORDER BY seq), ?2 + 1) - 1 AS last FROM present)
       SELECT first, last FROM spans WHERE first <= last ORDER BY first LIMIT ?3`,
    )
    .bind(accountId, last, MAX_GAPS)
    .all<{ first: number; last: number }>();
  return rows.results.map((r) => [r.first, r.last]);
}

/** The first `max` seqs the ranges cover. */
function capRows(ranges: [number, number][], max: number): [number, number][] {
  const out: [number, number][] = [];
  let left = max;
  for (const [first, last] of ranges) {
    if (left <= 0) break;
    const take = Math.min(last - first + 1, left);
    out.push([first, first + take - 1]);
    left -= take;
  }
  return out;
}

function driftStatement(db: D1Database, runId: string, now: number, d: AccountDrift): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO history_drift (run_id, account_id, found_at, shard, missing_entries, missing_events, sum_difference,
         entries_repaired, events_repaired, unresolved_difference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, account_id) DO NOTHING`,
    )
    .bind(runId, d.accountId, now, d.shard, d.missingEntries, d.missingEvents, d.sumDifference, d.entriesRepaired, d.eventsRepaired, d.unresolvedDifference);
}

/** Dead letters whose rows D1 now holds are resolved: the pass checked them present. */
function resolveDeadLetters(db: D1Database, accountId: string, summary: HistorySummary, now: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE history_dead_letters SET resolved_at = ?2
       WHERE account_id = ?1 AND resolved_at IS NULL AND coalesce(last_seq, 0) <= ?3 AND coalesce(last_event_seq, 0) <= ?4`,
    )
    .bind(accountId, now, summary.entrySeq, summary.eventSeq);
}
