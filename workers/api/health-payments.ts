// The payments part of the admin health view: the latest charged ⇒ credited pass and what it
// repaired, the payments this deployment would not credit (unapplied), and the Stripe events the pass
// could not apply yet (stuck, retried by later passes).
import { z } from "@hono/zod-openapi";
import type { RunView } from "../cron/runs";
import type { Env } from "../env";

const int = z.number().int();
const isoTime = z.string().openapi({ format: "date-time" });
const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export const REPAIR_KINDS = ["checkout_session", "auto_recharge", "saved_card", "payment_failed", "refund", "dispute"] as const;

export const PaymentsHealth = z
  .object({
    last_pass: z
      .object({ started_at: isoTime, finished_at: isoTime.nullable(), checked: int, repaired: int, failures: int })
      .nullable()
      .openapi({ description: "The latest charged ⇒ credited pass: Stripe events it looked at, those it applied because their webhook had not, those it could not apply" }),
    repaired_last_7_days: int,
    recent_repairs: z
      .array(
        z.object({
          stripe_object: z.string(),
          kind: z.enum(REPAIR_KINDS),
          account_id: z.string().nullable(),
          credits: int,
          amount: int,
          currency: z.string().nullable(),
          outcome: z.string(),
          repaired_at: isoTime,
        }),
      )
      .openapi({ description: "The 20 latest, newest first: each is a payment, refund or dispute whose webhook never arrived (or could not be applied)" }),
    unapplied: z
      .object({
        count: int,
        recent: z.array(
          z.object({
            stripe_object: z.string(),
            kind: z.enum(["checkout_session", "auto_recharge"]),
            account_id: z.string().nullable(),
            reason: z.string(),
            amount: int.nullable(),
            currency: z.string().nullable(),
            first_seen_at: isoTime,
            last_seen_at: isoTime,
            seen: int,
          }),
        ),
      })
      .openapi({ description: "Paid sessions and charges this deployment did not credit, with why: not sold here, not the amount sold, an unknown account (the 20 latest)" }),
    stuck: z
      .object({ count: int, oldest_failed_at: isoTime.nullable(), recent: z.array(z.object({ event_id: z.string(), type: z.string(), attempts: int, last_error: z.string(), next_attempt_at: isoTime })) })
      .openapi({ description: "Stripe events the pass found unapplied and could not apply yet: each is tried again by later passes" }),
  })
  .openapi({ description: "Charged ⇒ credited, and what Stripe sent that credited nothing here" });

type Row = Record<string, string | number | null>;

export async function paymentsHealth(env: Env, lastPass: RunView | null, now: number): Promise<z.infer<typeof PaymentsHealth>> {
  const db = env.DB;
  const [recent, week, unappliedCount, unappliedRecent, stuckCount, stuckRecent] = (await db.batch<Row>([
    db.prepare("SELECT * FROM payment_repairs ORDER BY repaired_at DESC LIMIT 20"),
    db.prepare("SELECT run_id, count(*) AS n FROM payment_repairs WHERE repaired_at >= ?1 GROUP BY run_id").bind(now - 7 * 24 * 3_600_000),
    db.prepare("SELECT count(*) AS n FROM unapplied_payments"),
    db.prepare("SELECT * FROM unapplied_payments ORDER BY last_seen_at DESC LIMIT 20"),
    db.prepare("SELECT count(*) AS n, min(first_failed_at) AS oldest FROM payment_retries"),
    db.prepare("SELECT event_id, type, attempts, last_error, next_attempt_at FROM payment_retries ORDER BY first_failed_at LIMIT 20"),
  ])).map((r) => r.results);
  const perRun = new Map((week ?? []).map((r) => [r.run_id as string, Number(r.n)]));
  return {
    last_pass: lastPass && {
      started_at: iso(lastPass.started_at) as string,
      finished_at: iso(lastPass.finished_at),
      checked: lastPass.accounts,
      repaired: perRun.get(lastPass.id) ?? 0,
      failures: lastPass.failures,
    },
    repaired_last_7_days: [...perRun.values()].reduce((a, b) => a + b, 0),
    recent_repairs: (recent ?? []).map((r) => ({
      stripe_object: r.stripe_object as string,
      kind: r.kind as (typeof REPAIR_KINDS)[number],
      account_id: r.account_id as string | null,
      credits: Number(r.credits),
      amount: Number(r.amount),
      currency: r.currency as string | null,
      outcome: r.outcome as string,
      repaired_at: iso(r.repaired_at as number) as string,
    })),
    unapplied: {
      count: Number(unappliedCount?.[0]?.n ?? 0),
      recent: (unappliedRecent ?? []).map((r) => ({
        stripe_object: r.stripe_object as string,
        kind: r.kind as "checkout_session" | "auto_recharge",
        account_id: r.account_id as string | null,
        reason: r.reason as string,
        amount: r.amount === null ? null : Number(r.amount),
        currency: r.currency as string | null,
        first_seen_at: iso(r.first_seen_at as number) as string,
        last_seen_at: iso(r.last_seen_at as number) as string,
        seen: Number(r.seen),
      })),
    },
    stuck: {
      count: Number(stuckCount?.[0]?.n ?? 0),
      oldest_failed_at: iso(stuckCount?.[0]?.oldest as number | null),
      recent: (stuckRecent ?? []).map((r) => ({
        event_id: r.event_id as string,
        type: r.type as string,
        attempts: Number(r.attempts),
        last_error: r.last_error as string,
        next_attempt_at: iso(r.next_attempt_at as number) as string,
      })),
    },
  };
}
