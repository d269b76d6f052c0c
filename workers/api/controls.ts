import { z } from "@hono/zod-openapi";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { Account } from "./accounts";
import { AccountIdParam, errors, jsonBody, jsonResponse, NonNegativeCredits } from "./schemas";

const LimitsBody = z
  .object({ daily: NonNegativeCredits.nullable().optional(), monthly: NonNegativeCredits.nullable().optional() })
  .strict()
  .openapi("LimitsInput", { description: "null removes a limit; a missing field keeps it" });

const AlertsBody = z.object({ low_balance_threshold: NonNegativeCredits.nullable() }).strict().openapi("AlertsInput");

const BlockBody = z
  .object({ blocked: z.boolean(), reason: z.string().min(1).max(500).optional() })
  .strict()
  .openapi("BlockInput", {
    description: "An operator's block. `blocked: false` lifts every block, an open payment dispute's too (written to the account's history with what was lifted); a dispute's block does not come back until a new dispute opens",
  });



export const controls = newRouter();

serve(controls, {
  method: "put",
  path: "/v1/accounts/{id}/limits",
  summary: "Daily and monthly spending limits (the account's calendar; UTC unless it sets time_zone)",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, body: jsonBody(LimitsBody) },
  responses: { 200: jsonResponse(Account, "The account"), ...errors(400, 401, 403, 404) },
}, async (c, { params, body }) => send(await ledgerOf(c.env, params.id).setLimits(body)));

serve(controls, {
  method: "put",
  path: "/v1/accounts/{id}/alerts",
  summary: "The low-balance threshold: balance.low fires once each time the balance falls below it",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, body: jsonBody(AlertsBody) },
  responses: { 200: jsonResponse(Account, "The account"), ...errors(400, 401, 403, 404) },
}, async (c, { params, body }) => {
  return send(await ledgerOf(c.env, params.id).setAlerts({ lowBalanceThreshold: body.low_balance_threshold }));
});

serve(controls, {
  method: "put",
  path: "/v1/accounts/{id}/block",
  summary: "Stop or allow spending by hand (admin): debits and holds get 402 spending_blocked; captures still settle; allowing lifts every block",
  middleware: [requireScope("admin")] as const,
  request: { params: AccountIdParam, body: jsonBody(BlockBody) },
  responses: { 200: jsonResponse(Account, "The account"), ...errors(400, 401, 403, 404) },
}, async (c, { params, body }) => {
  const reason = body.reason ?? (body.blocked ? "blocked by the operator" : "allowed by the operator");
  return send(await ledgerOf(c.env, params.id).setBlock({ blocked: body.blocked, reason }));
});
