import { z } from "@hono/zod-openapi";
import { dayKey } from "../../durable-objects/ledger/limits";
import { shardDb } from "../db/shards";
import type { Env } from "../env";
import { GRANULARITIES, readUsage } from "../db/usage";
import { requireScope } from "../http/auth";
import { ApiError } from "../http/errors";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonResponse } from "./schemas";

/** The widest window one request may ask for, in days between `from` and `to`. */
export const MAX_SPAN_DAYS = 400;
/** Days before `to` that `from` defaults to: 30 days in all. */
const DEFAULT_SPAN_DAYS = 29;
const DAY_MS = 86_400_000;

const DayOrInstant = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })], {
    error: "must be a local date (YYYY-MM-DD) or an ISO-8601 instant with an offset",
  })
  .optional();

const UsageQuery = z
  .object({
    from: DayOrInstant.openapi({
      description: `First day, inclusive: a date of the account's calendar, or an instant (the local day holding it). Default: ${DEFAULT_SPAN_DAYS} days before \`to\`.`,
      example: "2026-03-01",
    }),
    to: DayOrInstant.openapi({
      description: `Last day, inclusive, at most ${MAX_SPAN_DAYS} days after \`from\`. Default: today in the account's time zone.`,
      example: "2026-03-31",
    }),
    granularity: z.enum(GRANULARITIES).optional().openapi({ description: "Length of a period; default day. Weeks are ISO weeks (Monday first)." }),
    group_by: z.enum(["operation"]).optional().openapi({ description: "The only grouping, and the default." }),
  })
  .strict();

const UsageLine = z
  .object({
    period: z.string().openapi({
      format: "date",
      description: "First local day of the period: the day, the Monday of the week or the 1st of the month. The first and last period hold only the days inside [from, to].",
    }),
    operation: z.string().nullable().openapi({ description: "null for debits of a bare amount" }),
    count: z.number().int().openapi({ description: "Debits and captures" }),
    credits: z.number().int().openapi({ description: "Credits spent (positive)" }),
  })
  .openapi("UsageLine");

const Usage = z
  .object({
    granularity: z.enum(GRANULARITIES),
    from: z.string().openapi({ format: "date" }),
    to: z.string().openapi({ format: "date" }),
    time_zone: z.string().openapi({ description: "The account's zone the days are counted in (UTC when it has none)" }),
    data: z.array(UsageLine),
  })
  .openapi("Usage");

const LOCAL_DAY = /^\d{4}-\d{2}-\d{2}$/;
const FIRST_DAY = "1970-01-01";

const dayMs = (day: string) => Date.parse(`${day}T00:00:00Z`);
const addDays = (day: string, n: number) => new Date(dayMs(day) + n * DAY_MS).toISOString().slice(0, 10);

function invalid(field: string, message: string): ApiError {
  return new ApiError(400, "invalid_request", `${field}: ${message}`, { field });
}

/** The account's local day a `from`/`to` value names. */
function localDay(value: string, timeZone: string | null, field: string): string {
  const day = LOCAL_DAY.test(value) ? value : dayKey(Date.parse(value), timeZone);
  // Date arithmetic below must stay within four-digit years.
  if (!LOCAL_DAY.test(day) || day < FIRST_DAY) throw invalid(field, `must be a day from ${FIRST_DAY} to 9999-12-31`);
  return day;
}

/** The account's zone and the database of its history; the directory row has both in one read. */
async function whereabouts(env: Env, id: string): Promise<{ timeZone: string | null; db: D1Database | null } | Response> {
  const row = await env.DB.prepare("SELECT time_zone, history_shard FROM accounts WHERE id = ?").bind(id).first<{ time_zone: string | null; history_shard: string }>();
  if (row) return { timeZone: row.time_zone, db: shardDb(env, row.history_shard) };
  // Nothing of the account has reached D1 yet, so it has no usage there either: its object says
  // whether it exists (the same 404 as entries) and what its zone is.
  const reply = await ledgerOf(env, id).view();
  if (reply.status !== 200) return send(reply);
  const { time_zone } = JSON.parse(reply.json) as { time_zone?: unknown };
  return { timeZone: typeof time_zone === "string" ? time_zone : null, db: null };
}

export const usage = newRouter();

serve(usage, {
  method: "get",
  path: "/v1/accounts/{id}/usage",
  summary: "Credits spent per period and operation, in the account's time zone (from D1's daily rollups)",
  description:
    `Counts debits and captures per local day, ISO week or month between \`from\` and \`to\` (inclusive, at most ${MAX_SPAN_DAYS} days apart), ` +
    "oldest first, then by operation. Only days inside the window count, so the first and last week or month may be partial. " +
    "Spending appears within about a second, as entries do.",
  middleware: [requireScope("read")] as const,
  request: { params: AccountIdParam, query: UsageQuery },
  responses: { 200: jsonResponse(Usage, "Usage"), ...errors(400, 401, 403, 404) },
}, async (c, { params: { id }, query: q }) => {
  const found = await whereabouts(c.env, id);
  if (found instanceof Response) return found;
  const { timeZone, db } = found;
  const to = q.to === undefined ? dayKey(Date.now(), timeZone) : localDay(q.to, timeZone, "to");
  const from = q.from === undefined ? addDays(to, -DEFAULT_SPAN_DAYS) : localDay(q.from, timeZone, "from");
  if (from > to) throw invalid("from", `must not be after to (${to})`);
  if ((dayMs(to) - dayMs(from)) / DAY_MS > MAX_SPAN_DAYS) throw invalid("from", `must be at most ${MAX_SPAN_DAYS} days before to (${to})`);
  const granularity = q.granularity ?? "day";
  const rows = db ? await readUsage(db, { accountId: id, from, to, granularity }) : [];
  const data = rows.map((r) => ({ period: r.period, operation: r.operation === "" ? null : r.operation, count: r.count, credits: r.credits }));
  return c.json({ granularity, from, to, time_zone: timeZone ?? "UTC", data }, 200);
});
