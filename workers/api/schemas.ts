// The zod schemas every route shares. They validate input and generate /openapi.json, so the
// document and the behaviour cannot drift apart.
import { z } from "@hono/zod-openapi";
import { LOT_SOURCES } from "../../durable-objects/ledger/types";

const SAFE = Number.MAX_SAFE_INTEGER;

export const AccountIdParam = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/, "must be 1-128 of A-Z a-z 0-9 _ . : -")
    .openapi({ param: { name: "id", in: "path" }, example: "user_42" }),
});

export const HoldParams = AccountIdParam.extend({
  hold_id: z
    .string()
    .regex(/^hold_[a-z0-9]{1,64}$/, "is not a hold id")
    .openapi({ param: { name: "hold_id", in: "path" }, example: "hold_k3v9x0q2m7c1p5w8" }),
});

export const Credits = z.number().int("must be a whole number of the smallest credit unit").max(SAFE, "is larger than 2^53 - 1");
export const PositiveCredits = Credits.min(1, "must be at least 1");
export const NonNegativeCredits = Credits.min(0, "must not be negative");

export const OperationName = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, "must be 1-128 of A-Z a-z 0-9 _ . : -")
  .openapi({ example: "chat.gpt-4o" });

export const Quantities = z
  .record(z.string().regex(/^[a-z0-9_]{1,64}$/, "quantity names are 1-64 of a-z 0-9 _"), NonNegativeCredits)
  .refine((q) => Object.keys(q).length <= 32, "at most 32 quantities")
  .openapi({ example: { input_tokens: 1200, output_tokens: 350 } });

export const Metadata = z
  .record(z.string().max(64), z.union([z.string().max(500), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 50, "at most 50 keys")
  .openapi({ example: { request_id: "req_123" } });

export const Description = z.string().max(500);

/** Either an exact amount or an operation with quantities to price. */
const chargeShape = {
  amount: PositiveCredits.optional(),
  operation: OperationName.optional(),
  quantities: Quantities.optional(),
  description: Description.optional(),
  metadata: Metadata.optional(),
};

function exactlyOneCharge(value: { amount?: number | undefined; operation?: string | undefined; quantities?: unknown }, ctx: z.RefinementCtx) {
  if (value.amount === undefined && value.operation === undefined) {
    ctx.addIssue({ code: "custom", path: ["amount"], message: "send either 'amount' or 'operation' with 'quantities'" });
  } else if (value.amount !== undefined && (value.operation !== undefined || value.quantities !== undefined)) {
    ctx.addIssue({ code: "custom", path: ["amount"], message: "send 'amount' or 'operation' with 'quantities', not both" });
  } else if (value.operation !== undefined && value.quantities === undefined) {
    ctx.addIssue({ code: "custom", path: ["quantities"], message: "is required with 'operation'" });
  }
}

export const ChargeBody = z.object(chargeShape).strict().superRefine(exactlyOneCharge).openapi("Charge");

export const QuoteBody = z
  .object({ amount: chargeShape.amount, operation: chargeShape.operation, quantities: chargeShape.quantities })
  .strict()
  .superRefine(exactlyOneCharge)
  .openapi("QuoteRequest");

export const HoldBody = z
  .object({ ...chargeShape, ttl_seconds: z.number().int().min(1).max(86_400).optional() })
  .strict()
  .superRefine(exactlyOneCharge)
  .openapi("HoldRequest");

export const CaptureBody = z
  .object({
    amount: NonNegativeCredits.optional(),
    quantities: Quantities.optional(),
    description: Description.optional(),
    metadata: Metadata.optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    if ((value.amount === undefined) === (value.quantities === undefined)) {
      ctx.addIssue({ code: "custom", path: ["amount"], message: "send either 'amount' or 'quantities'" });
    }
  })
  .openapi("CaptureRequest");

export const GrantBody = z
  .object({
    amount: PositiveCredits,
    source: z.enum(LOT_SOURCES).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    reference: z.string().max(255).optional(),
    description: Description.optional(),
    metadata: Metadata.optional(),
  })
  .strict()
  .openapi("GrantRequest");

export const IdempotencyHeader = z.object({
  // For the document only: idempotency() checks presence and form, with its own error types.
  "idempotency-key": z.string().openapi({ description: "Required: 1-255 printable ASCII characters, unique per intended operation." }),
});

export const ErrorSchema = z
  .object({
    error: z.object({ type: z.string(), message: z.string() }).passthrough(),
  })
  .openapi("Error");

const errorContent = { "application/json": { schema: ErrorSchema } };

/** Standard error responses for the OpenAPI document. */
export function errors(...statuses: number[]) {
  const text: Record<number, string> = {
    400: "Invalid request: names the field (a debit or hold priced at 0 credits is zero_cost)",
    401: "Missing, invalid or revoked API key",
    402: "Insufficient credits, spending limit exceeded, or account in debt",
    403: "The key lacks the scope",
    404: "Unknown account or object",
    409: "Idempotency conflict or wrong state",
    413: "Body over 64 KiB",
    429: "Too many failed authentications from this client: retry after Retry-After seconds",
    502: "The payment provider (Stripe) refused or failed: its message is passed on",
    503: "Payments are not configured on this deployment (no Stripe key)",
  };
  // Every route that authenticates can answer 429 once a client fails authentication too often.
  const all = statuses.includes(401) && !statuses.includes(429) ? [...statuses, 429] : statuses;
  return Object.fromEntries(all.map((s) => [s, { description: text[s] ?? "Error", content: errorContent }]));
}

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});
