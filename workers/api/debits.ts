import { z } from "@hono/zod-openapi";
import { chargeOf, priceCharge } from "../catalog/prices";
import { requireScope } from "../http/auth";
import { idempotency } from "../http/idempotency";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, ChargeBody, errors, IdempotencyHeader, jsonBody, jsonResponse } from "./schemas";

const Debit = z
  .object({ entry_id: z.string(), cost: z.number().int(), balance: z.number().int(), available: z.number().int() })
  .openapi("Debit");


export const debits = newRouter();

serve(debits, {
  method: "post",
  path: "/v1/accounts/{id}/debits",
  summary: "Spend credits now (an exact amount or a priced operation)",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, headers: IdempotencyHeader, body: jsonBody(ChargeBody) },
  responses: { 201: jsonResponse(Debit, "Debited"), ...errors(400, 401, 402, 403, 404, 409, 413) },
}, async (c, { params, body }) => {
  const { id } = params;
  const idem = await idempotency(c, `debit:${id}`, body);
  const priced = await priceCharge(c.env, body);
  const reply = await ledgerOf(c.env, id).debit(idem, chargeOf(priced, body));
  return send(reply);
});
