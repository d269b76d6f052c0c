import { z } from "@hono/zod-openapi";
import { isValidTimeZone } from "../../durable-objects/ledger/limits";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonBody, jsonResponse, Metadata } from "./schemas";

const AccountBody = z
  .object({
    name: z.string().max(200).nullable().optional(),
    email: z.string().email().max(320).nullable().optional(),
    metadata: Metadata.nullable().optional(),
    time_zone: z
      .string()
      .refine(isValidTimeZone, "is not an IANA time zone such as 'Europe/Paris'")
      .nullable()
      .optional()
      .openapi({ description: "The calendar for daily and monthly spending limits; UTC when unset." }),
  })
  .strict()
  .openapi("AccountInput");

const int = z.number().int();
const isoTime = z.string().openapi({ format: "date-time" });
export const Account = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    time_zone: z.string().nullable(),
    balance: int.openapi({ description: "Unexpired credits minus debt; below 0 when in debt" }),
    available: int.openapi({ description: "balance − held" }),
    held: int,
    debt: int,
    lots: z.array(
      z.object({ id: z.string(), source: z.string(), amount: int, remaining: int, expires_at: isoTime.nullable(), priority: int, created_at: isoTime }),
    ),
    holds: z.array(z.object({ id: z.string(), amount: int, operation: z.string().nullable(), expires_at: isoTime, created_at: isoTime })),
    limits: z.object({ daily: int.nullable(), monthly: int.nullable(), spent_today: int, spent_this_month: int, time_zone: z.string() }),
    low_balance: z.object({ threshold: int.nullable(), is_low: z.boolean() }),
    auto_recharge: z
      .object({
        enabled: z.boolean(),
        threshold: int.openapi({ description: "A charge is raised when spending or an expiry takes `available` from at or above this to below it" }),
        package_id: z.string(),
        credits: int.openapi({ description: "Credits each charge buys (the package's, as it was when auto-recharge was set)" }),
        price: z.object({ amount: int, currency: z.string() }).openapi({ description: "What each charge costs, in the currency's smallest unit" }),
        monthly_limit: int.nullable().openapi({ description: "Money charged per calendar month (the account's time zone) at most; null: no limit" }),
        charged_this_month: int,
        has_payment_method: z.boolean().openapi({ description: "A card is saved (by a checkout with save_payment_method)" }),
        status: z.enum(["idle", "in_flight", "disabled"]).openapi({ description: "in_flight: a charge is with Stripe and no other is made until it is resolved" }),
        disabled_reason: z
          .string()
          .nullable()
          .openapi({ description: "Why it stopped (authentication_required, declined: <code>, card_unusable: <code>); setting it again turns it back on" }),
        held_back: z
          .enum(["no_payment_method", "monthly_limit_reached", "blocked", "below_threshold"])
          .nullable()
          .openapi({
            description:
              "Why no charge would go now: no card saved yet; this month's limit reached; spending blocked; or available is already below the threshold (a charge needs spending to take it from above to below)",
          }),
        held_back_until: isoTime.nullable().openapi({ description: "monthly_limit_reached: when the next month starts and the charge goes" }),
        message: z.string().nullable().openapi({ description: "The state in words, for a person" }),
        last_attempt_at: isoTime.nullable(),
      })
      .nullable()
      .openapi({ description: "Auto-recharge: when spending or an expiry takes available credits from at or above the threshold to below it, buy the package with the saved card (once per crossing)" }),
    allowance: z
      .object({
        amount: int,
        interval: z.enum(["day", "week", "month"]),
        rollover_max: int,
        rollover_expires_after_intervals: int,
        lot_id: z.string(),
        current_period_start: isoTime,
        current_period_end: isoTime,
        next_period: z
          .object({ amount: int, interval: z.enum(["day", "week", "month"]), rollover_max: int, rollover_expires_after_intervals: int })
          .nullable()
          .openapi({ description: "What the next period runs on; null when the allowance ends at current_period_end" }),
      })
      .nullable()
      .openapi({ description: "The recurring allowance and its current period, or null" }),
    blocked: z
      .object({ reason: z.string(), since: isoTime })
      .nullable()
      .openapi({ description: "Why spending is stopped (an operator's block or an open payment dispute), or null" }),
    next_expiry: z.object({ at: isoTime, amount: int }).nullable(),
    created_at: isoTime,
  })
  .openapi("Account");

export const accounts = newRouter();

serve(accounts, {
  method: "put",
  path: "/v1/accounts/{id}",
  summary: "Create or update an account",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, body: jsonBody(AccountBody) },
  responses: { 200: jsonResponse(Account, "Updated"), 201: jsonResponse(Account, "Created"), ...errors(400, 401, 403) },
}, async (c, { params, body }) => {
  const { id } = params;
  const reply = await ledgerOf(c.env, id).open({
    id,
    name: body.name,
    email: body.email,
    metadata: body.metadata,
    timeZone: body.time_zone,
  });
  return send(reply);
});

serve(accounts, {
  method: "get",
  path: "/v1/accounts/{id}",
  summary: "Balance, lots, holds, limits and next expiry of an account",
  middleware: [requireScope("read")] as const,
  request: { params: AccountIdParam },
  responses: { 200: jsonResponse(Account, "The account"), ...errors(400, 401, 404) },
}, async (c, { params }) => send(await ledgerOf(c.env, params.id).view()));
