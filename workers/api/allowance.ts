import { z } from "@hono/zod-openapi";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { Account } from "./accounts";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonBody, jsonResponse, NonNegativeCredits, PositiveCredits } from "./schemas";

/** Rollover lots may outlive their period by up to this many periods (ten years of months). */
const MAX_ROLLOVER_INTERVALS = 120;

const AllowanceBody = z
  .object({
    amount: PositiveCredits.openapi({ description: "Credits granted at the start of every period" }),
    interval: z.enum(["day", "week", "month"]).openapi({
      description: "Periods begin at midnight, Monday 00:00 or the 1st of the month, in the account's time zone",
    }),
    rollover_max: NonNegativeCredits.optional().openapi({
      description: "The most of a period's unused allowance carried into the next period (default 0: none); the rest expires",
    }),
    rollover_expires_after_intervals: z
      .number()
      .int()
      .min(1)
      .max(MAX_ROLLOVER_INTERVALS)
      .optional()
      .openapi({ description: "How many periods rolled-over credits last (default 1: until the end of the period they rolled into)" }),
  })
  .strict()
  .nullable()
  .openapi("AllowanceInput", {
    description:
      "A recurring grant. A first allowance starts now and runs to the next boundary with its full amount; a change, or null (end), takes effect at the current period's end.",
  });

export const allowance = newRouter();

serve(allowance, {
  method: "put",
  path: "/v1/accounts/{id}/allowance",
  summary: "Set, change or end (null) the recurring allowance, with capped rollover of what goes unused",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, body: jsonBody(AllowanceBody) },
  responses: { 200: jsonResponse(Account, "The account, with `allowance` and its current period"), ...errors(400, 401, 403, 404) },
}, async (c, { params, body }) => {
  const plan = body && {
    amount: body.amount,
    interval: body.interval,
    rolloverMax: body.rollover_max ?? 0,
    rolloverExpiresAfterIntervals: body.rollover_expires_after_intervals ?? 1,
  };
  return send(await ledgerOf(c.env, params.id).setAllowance(plan));
});
