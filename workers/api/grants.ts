import { z } from "@hono/zod-openapi";
import { requireScope } from "../http/auth";
import { idempotency } from "../http/idempotency";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, GrantBody, IdempotencyHeader, jsonBody, jsonResponse } from "./schemas";

/** Lower burns first; every source shares the default so expiry alone orders them unless told. */
export const DEFAULT_PRIORITY = 100;

const Grant = z
  .object({
    lot_id: z.string(),
    entry_id: z.string(),
    amount: z.number().int(),
    debt_paid: z.number().int().openapi({ description: "The part of the grant that paid off debt first (it does not become available)" }),
    balance: z.number().int(),
    available: z.number().int(),
  })
  .openapi("Grant");

export const grants = newRouter();

serve(grants, {
  method: "post",
  path: "/v1/accounts/{id}/grants",
  summary: "Add credits to an account (admin)",
  middleware: [requireScope("admin")] as const,
  request: { params: AccountIdParam, headers: IdempotencyHeader, body: jsonBody(GrantBody) },
  responses: { 201: jsonResponse(Grant, "Granted"), ...errors(400, 401, 403, 404, 409, 413) },
}, async (c, { params, body }) => {
  const { id } = params;
  const idem = await idempotency(c, `grant:${id}`, body);
  const reply = await ledgerOf(c.env, id).grant(idem, {
    amount: body.amount,
    source: body.source ?? "grant",
    expiresAt: body.expires_at === undefined ? null : Date.parse(body.expires_at),
    priority: body.priority ?? DEFAULT_PRIORITY,
    reference: body.reference ?? null,
    description: body.description ?? null,
    metadata: body.metadata ?? null,
  });
  return send(reply);
});
