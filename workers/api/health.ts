import { z } from "@hono/zod-openapi";
import { latestRun, type RunView } from "../cron/runs";
import type { Env } from "../env";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { paymentsHealth, PaymentsHealth } from "./health-payments";
import { errors, jsonResponse } from "./schemas";

/** Work due this long ago and still not done means the sweep is behind (it runs every 5 minutes). */
const OVERDUE_AFTER_MS = 15 * 60_000;
/** How long the health view waits for the Queue's backlog figures before it says "unknown". */
const METRICS_TIMEOUT_MS = 1000;

const int = z.number().int();
const isoTime = z.string().openapi({ format: "date-time" });

const Health = z
  .object({
    last_sweep: z
      .object({ started_at: isoTime, finished_at: isoTime.nullable(), accounts: int, failures: int, invocations: int })
      .nullable()
      .openapi({ description: "The latest sweep pass; finished_at is null while it is still being worked through" }),
    history_lag_ms: int.nullable().openapi({ description: "How long the oldest flush of the last history batch took from its object to D1" }),
    history_lag_measured_at: isoTime.nullable(),
    drift: z
      .object({
        checked_at: isoTime,
        accounts_checked: int,
        accounts_with_drift: int,
        entries_repaired: int,
        events_repaired: int,
        failures: int,
      })
      .nullable()
      .openapi({ description: "The last finished reconciliation of D1 against the objects" }),
    unresolved_drift: int.openapi({ description: "Accounts whose D1 history still differs from their object after the last repair" }),
    queue_backlog: z
      .object({ messages: int, bytes: int, oldest_message_at: isoTime.nullable() })
      .nullable()
      .openapi({ description: "The history Queue's backlog where the platform reports it (null: unknown)" }),
    dead_letters: int.openapi({ description: "History messages the Queue gave up on that reconciliation has not resolved yet" }),
    overdue_accounts: int.openapi({ description: "Accounts whose due work is more than 15 minutes late" }),
    payments: PaymentsHealth,
    webhooks: z
      .object({
        active_endpoints: int,
        disabled_endpoints: z
          .array(z.object({ id: z.string(), url: z.string(), disabled_reason: z.string().nullable(), disabled_at: isoTime.nullable() }))
          .openapi({ description: "Endpoints that receive nothing: disabled by an admin, or after failing every delivery for 3 days" }),
        failing_endpoints: z
          .array(z.object({ id: z.string(), url: z.string(), failing_since: isoTime }))
          .openapi({ description: "Active endpoints whose every delivery has failed since failing_since (disabled 3 days after)" }),
        pending_deliveries: int,
        failed_deliveries_last_7_days: int,
      })
      .openapi({ description: "Outgoing webhooks" }),
  })
  .openapi("Health");

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export const health = newRouter();

serve(health, {
  method: "get",
  path: "/v1/admin/health",
  summary: "How the background work stands (admin): the last sweep, history lag, drift found by reconciliation, backlogs",
  middleware: [requireScope("admin")] as const,
  responses: { 200: jsonResponse(Health, "Health"), ...errors(401, 403) },
}, async (c) => {
  const now = Date.now();
  const db = c.env.DB;
  const reconcile = await latestRun(c.env, "reconcile", true);
  const [sweep, payments, facts, backlog, webhooks] = await Promise.all([
    latestRun(c.env, "sweep"),
    latestRun(c.env, "payments").then((run) => paymentsHealth(c.env, run, now)),
    db.batch<Record<string, number | string | null>>([
      db.prepare("SELECT value, updated_at FROM system_state WHERE key = 'history_lag'"),
      db.prepare("SELECT count(*) AS n FROM history_dead_letters WHERE resolved_at IS NULL"),
      db.prepare("SELECT count(*) AS n FROM accounts WHERE due_at < ?1").bind(now - OVERDUE_AFTER_MS),
      db.prepare("SELECT count(DISTINCT account_id) AS n FROM history_drift WHERE run_id = ?1 AND unresolved_difference != 0").bind(reconcile?.id ?? ""),
    ]),
    queueBacklog(c.env),
    webhooksHealth(c.env, now),
  ]);
  const [lagRow, deadRow, overdueRow, unresolvedRow] = facts.map((r) => r.results[0]);
  const lag = lagRow ? (JSON.parse(lagRow.value as string) as { lag_ms: number }) : null;
  return c.json({
    last_sweep: sweep && {
      started_at: iso(sweep.started_at) as string,
      finished_at: iso(sweep.finished_at),
      accounts: sweep.accounts,
      failures: sweep.failures,
      invocations: sweep.invocations,
    },
    history_lag_ms: lag?.lag_ms ?? null,
    history_lag_measured_at: iso(lagRow?.updated_at as number | undefined),
    drift: reconcile && driftView(reconcile),
    unresolved_drift: Number(unresolvedRow?.n ?? 0),
    queue_backlog: backlog,
    dead_letters: Number(deadRow?.n ?? 0),
    overdue_accounts: Number(overdueRow?.n ?? 0),
    payments,
    webhooks,
  });
});

function driftView(run: RunView) {
  return {
    checked_at: iso(run.finished_at) as string,
    accounts_checked: run.accounts,
    accounts_with_drift: run.drift_accounts,
    entries_repaired: run.entries_repaired,
    events_repaired: run.events_repaired,
    failures: run.failures,
  };
}

async function webhooksHealth(env: Env, now: number) {
  type Row = Record<string, string | number | null>;
  const [endpoints = { results: [] }, counts = { results: [] }] = await env.DB.batch<Row>([
    env.DB.prepare("SELECT id, url, status, disabled_reason, disabled_at, failing_since FROM webhook_endpoints"),
    env.DB.prepare(
      "SELECT sum(status = 'pending') AS pending, sum(status = 'failed' AND updated_at >= ?1) AS failed FROM webhook_deliveries WHERE status != 'delivered'",
    ).bind(now - 7 * 24 * 3_600_000),
  ]);
  const rows = endpoints.results;
  return {
    active_endpoints: rows.filter((r) => r.status === "active").length,
    disabled_endpoints: rows
      .filter((r) => r.status === "disabled")
      .map((r) => ({ id: r.id as string, url: r.url as string, disabled_reason: r.disabled_reason as string | null, disabled_at: iso(r.disabled_at as number | null) })),
    failing_endpoints: rows
      .filter((r) => r.status === "active" && r.failing_since !== null)
      .map((r) => ({ id: r.id as string, url: r.url as string, failing_since: iso(r.failing_since as number) as string })),
    pending_deliveries: Number(counts.results[0]?.pending ?? 0),
    failed_deliveries_last_7_days: Number(counts.results[0]?.failed ?? 0),
  };
}

/** The history Queue's backlog, when the runtime can tell (not every local runtime can). */
async function queueBacklog(env: Env): Promise<{ messages: number; bytes: number; oldest_message_at: string | null } | null> {
  try {
    const metrics = await Promise.race([
      env.HISTORY.metrics(),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), METRICS_TIMEOUT_MS)),
    ]);
    if (!metrics) return null;
    return {
      messages: metrics.backlogCount,
      bytes: metrics.backlogBytes,
      oldest_message_at: metrics.oldestMessageTimestamp ? metrics.oldestMessageTimestamp.toISOString() : null,
    };
  } catch {
    return null;
  }
}
