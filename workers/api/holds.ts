import { z } from "@hono/zod-openapi";
import { chargeOf, priceCharge } from "../catalog/prices";
import { requireScope } from "../http/auth";
import { ApiError } from "../http/errors";
import { idempotency } from "../http/idempotency";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, CaptureBody, errors, HoldBody, HoldParams, IdempotencyHeader, jsonBody, jsonResponse } from "./schemas";

export const DEFAULT_HOLD_TTL_SECONDS = 900;

const Hold = z
  .object({ hold_id: z.string(), amount: z.number().int(), expires_at: z.string(), balance: z.number().int(), available: z.number().int() })
  .openapi("Hold");
const Capture = z
  .object({
    entry_id: z.string(),
    hold_id: z.string(),
    cost: z.number().int().openapi({ description: "What was charged: the computed cost, up to the hold plus the overrun allowance" }),
    uncharged: z.number().int().openapi({
      description: "Computed cost above hold × (1 + CAPTURE_OVERRUN_MAX_PERCENT/100), or past a spending limit by more than that allowance: not charged, recorded in the entry's metadata",
    }),
    released: z.number().int(),
    overrun: z.number().int().openapi({ description: "The part of the charge that became debt (debt after − debt before)" }),
    balance: z.number().int(),
    available: z.number().int(),
    debt: z.number().int().openapi({ description: "max(0, −balance) after the capture" }),
  })
  .openapi("Capture");
const Release = z
  .object({ hold_id: z.string(), released: z.number().int(), balance: z.number().int(), available: z.number().int() })
  .openapi("Release");

export const holds = newRouter();

serve(holds, {
  method: "post",
  path: "/v1/accounts/{id}/holds",
  summary: "Reserve credits for work whose final cost is not known yet",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, headers: IdempotencyHeader, body: jsonBody(HoldBody) },
  responses: { 201: jsonResponse(Hold, "Held"), ...errors(400, 401, 402, 403, 404, 409, 413) },
}, async (c, { params, body }) => {
  const { id } = params;
  const idem = await idempotency(c, `hold:${id}`, body);
  const priced = await priceCharge(c.env, body);
  const reply = await ledgerOf(c.env, id).hold(idem, {
    ...chargeOf(priced, body),
    ttlSeconds: body.ttl_seconds ?? DEFAULT_HOLD_TTL_SECONDS,
  });
  return send(reply);
});

serve(holds, {
  method: "post",
  path: "/v1/accounts/{id}/holds/{hold_id}/capture",
  summary: "Charge the actual cost of held work, once; the rest of the hold is released",
  middleware: [requireScope("write")] as const,
  request: { params: HoldParams, headers: IdempotencyHeader, body: jsonBody(CaptureBody) },
  responses: { 200: jsonResponse(Capture, "Captured"), ...errors(400, 401, 403, 404, 409, 413) },
}, async (c, { params, body }) => {
  const { id, hold_id } = params;
  const idem = await idempotency(c, `capture:${id}:${hold_id}`, body);
  const ledger = ledgerOf(c.env, id);
  let operation: string | undefined;
  if (body.quantities !== undefined) {
    // Quantities are priced with the operation the hold was placed for.
    const held = await ledger.holdOperation(hold_id);
    if (held.status === 404) return send(held);
    operation = (JSON.parse(held.json) as { operation: string | null }).operation ?? undefined;
    if (!operation) {
      throw new ApiError(400, "invalid_request", "This hold was placed for an amount, not an operation: capture it with 'amount'.", { field: "quantities" });
    }
  }
  const priced = await priceCharge(c.env, { amount: body.amount, operation, quantities: body.quantities });
  const reply = await ledger.capture(idem, hold_id, chargeOf(priced, body));
  return send(reply);
});

serve(holds, {
  method: "post",
  path: "/v1/accounts/{id}/holds/{hold_id}/release",
  summary: "Let a hold go without charging anything",
  middleware: [requireScope("write")] as const,
  request: { params: HoldParams, headers: IdempotencyHeader },
  responses: { 200: jsonResponse(Release, "Released"), ...errors(400, 401, 403, 404, 409) },
}, async (c, { params }) => {
  const { id, hold_id } = params;
  const idem = await idempotency(c, `release:${id}:${hold_id}`, {});
  return send(await ledgerOf(c.env, id).release(idem, hold_id));
});
