// The sweep: every account whose object has work due by itself (a lot expiring, an allowance period
// ending, a hold expiring, a lot to announce as expiring) is called once, so that its history says what
// happened even when the object's own alarm is late or lost. The objects do the work (AccountLedger.
// tick, idempotent: whichever of the alarm, a request or the sweep comes first writes it); the sweep
// only finds them, through the due-work index in the main D1 (`accounts.due_at`), and records its run.
//
// Overlapping sweeps never call the same account for the same work: each page of accounts is claimed
// in one D1 statement (D1 runs statements one at a time), and a claim holds until the call's answer is
// written back, or its lease runs out if the invocation died. A pass that cannot finish within one
// invocation's budget is continued by the next one, with the same cutoff.

import type { TickReport } from "../../durable-objects/account-ledger";
import { ledgerOf } from "../api/ledger";
import type { Env } from "../env";
import { Failure, mapLimit } from "./pool";
import { continueRun, countStatement, finishRun, startRun, type Run } from "./runs";

/** Accounts claimed per D1 statement. */
const PAGE = 100;
/** A claim outlives any invocation's budget: only a dead invocation's claims ever run out. */
const CLAIM_LEASE_MS = 15 * 60_000;

export interface SweepOptions {
  /** When this invocation was scheduled: a new pass takes the accounts due by then. */
  scheduledTime: number;
  /** Stop claiming more accounts at this instant (Date.now() clock). */
  deadline: number;
  maxAccounts: number;
  concurrency: number;
}

export interface SweepResult {
  runs: string[];
  accounts: number;
  failures: number;
  /** Entries the objects wrote because of this sweep (0 when their alarms had been first). */
  settledEntries: number;
  /** Whether every pass this invocation touched is finished. */
  finished: boolean;
}

export async function sweep(env: Env, options: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { runs: [], accounts: 0, failures: 0, settledEntries: 0, finished: false };
  let run: Run | null = await continueRun(env.DB, "sweep");
  if (run === null) run = await startRun(env.DB, "sweep", options.scheduledTime, Date.now());
  for (;;) {
    result.runs.push(run.id);
    const done = await sweepRun(env, run, options, result);
    if (!done) return result;
    // A continued pass is done; if it was an older one, this invocation's own may still fit.
    if (run.cutoff >= options.scheduledTime || !hasTime(options, result)) break;
    run = await startRun(env.DB, "sweep", options.scheduledTime, Date.now());
  }
  result.finished = true;
  return result;
}

const hasTime = (options: SweepOptions, result: SweepResult) => Date.now() < options.deadline && result.accounts < options.maxAccounts;

/** Works through one pass's accounts; true once none is left to claim (the pass is then finished). */
async function sweepRun(env: Env, run: Run, options: SweepOptions, result: SweepResult): Promise<boolean> {
  while (hasTime(options, result)) {
    const ids = await claim(env.DB, run, Math.min(PAGE, options.maxAccounts - result.accounts));
    if (ids.length === 0) {
      await finishRun(env.DB, run.id, Date.now());
      return true;
    }
    const answers = await mapLimit(ids, options.concurrency, (id) => ledgerOf(env, id).tick());
    const failures = answers.filter((a) => a instanceof Failure).length;
    for (const [i, answer] of answers.entries()) {
      if (answer instanceof Failure) console.error(`sweep ${run.id}: account ${ids[i]} failed`, answer.error);
      else if (answer) result.settledEntries += answer.settledEntries;
    }
    await env.DB.batch([
      writeBackStatement(env.DB, run, ids, answers),
      countStatement(env.DB, run.id, { accounts: ids.length - failures, failures }),
    ]);
    result.accounts += ids.length - failures;
    result.failures += failures;
  }
  return false;
}

/**
 * Claims the next page of the pass's accounts: due by its cutoff and not claimed by a live sweep. A
 * failed account keeps its claim until the lease runs out, so this pass does not call it again.
 */
async function claim(db: D1Database, run: Run, limit: number): Promise<string[]> {
  const now = Date.now();
  const rows = await db
    .prepare(
      `UPDATE accounts SET sweep_claimed_by = ?1, sweep_claimed_until = ?2
       WHERE id IN (SELECT id FROM accounts WHERE due_at <= ?3 AND (sweep_claimed_until IS NULL OR sweep_claimed_until <= ?4)
                    ORDER BY due_at LIMIT ?5)
       RETURNING id`,
    )
    .bind(run.id, now + CLAIM_LEASE_MS, run.cutoff, now, limit)
    .all<{ id: string }>();
  return rows.results.map((r) => r.id);
}

/**
 * Writes what each object said is due next and lets go of the claims. The object's own copy (shipped
 * through the history Queue) may have been computed later; the newer copy wins (due_computed_at). An
 * account whose object does not exist leaves the index.
 */
function writeBackStatement(db: D1Database, run: Run, ids: string[], answers: (TickReport | null | Failure)[]): D1PreparedStatement {
  const rows = ids.flatMap((id, i) => {
    const a = answers[i];
    if (a instanceof Failure) return [];
    if (a === null || a === undefined) return [[id, Number.MAX_SAFE_INTEGER, null, null, null]];
    // Work still due by the cutoff comes back to this pass only if the call made progress (a long
    // catch-up goes on); otherwise (an object whose clock is behind the cutoff) it is the next pass's.
    const stuck = a.dueAt !== null && a.dueAt <= run.cutoff && a.settledEntries + a.settledEvents === 0;
    return [[id, a.at, stuck ? run.cutoff + 1 : a.dueAt, a.nextAllowanceAt, a.nextHoldExpiryAt]];
  });
  return db
    .prepare(
      `UPDATE accounts SET
         due_at = CASE WHEN r.value ->> 1 >= accounts.due_computed_at THEN r.value ->> 2 ELSE accounts.due_at END,
         next_allowance_at = CASE WHEN r.value ->> 1 >= accounts.due_computed_at THEN r.value ->> 3 ELSE accounts.next_allowance_at END,
         next_hold_expiry_at = CASE WHEN r.value ->> 1 >= accounts.due_computed_at THEN r.value ->> 4 ELSE accounts.next_hold_expiry_at END,
         due_computed_at = max(accounts.due_computed_at, r.value ->> 1),
         sweep_claimed_by = NULL, sweep_claimed_until = NULL
       FROM json_each(?1) AS r
       WHERE accounts.id = r.value ->> 0 AND accounts.sweep_claimed_by = ?2`,
    )
    .bind(JSON.stringify(rows), run.id);
}
