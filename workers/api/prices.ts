import { z } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { forgetPrices, priceCharge, toPrice } from "../catalog/prices";
import { prices } from "../db/schema";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonBody, jsonResponse, OperationName, QuoteBody } from "./schemas";

const RateSchema = z
  .object({
    credits: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    per: z.number().int().min(1).max(1_000_000_000_000),
  })
  .strict()
  .openapi("Rate", { description: "credits for every `per` units of the quantity; exact, never rounded until the total" });

const PriceBody = z
  .object({
    rates: z
      .record(z.string().regex(/^[a-z0-9_]{1,64}$/, "quantity names are 1-64 of a-z 0-9 _"), RateSchema)
      .refine((r) => Object.keys(r).length >= 1 && Object.keys(r).length <= 32, "1 to 32 rates"),
    description: z.string().max(500).nullable().optional(),
  })
  .strict()
  .openapi("PriceInput", {
    example: { rates: { input_tokens: { credits: 250, per: 1_000_000 }, output_tokens: { credits: 1000, per: 1_000_000 } } },
  });

const Price = z
  .object({ operation: z.string(), rates: z.record(z.string(), RateSchema), description: z.string().nullable() })
  .openapi("Price");

const Quote = z
  .object({
    cost: z.number().int(),
    balance: z.number().int(),
    available: z.number().int(),
    affordable: z.boolean(),
    reason: z
      .enum(["spending_blocked", "account_in_debt", "spending_limit_exceeded", "insufficient_credits"])
      .nullable()
      .openapi({ description: "Why it is not affordable: the 402 error type a debit of this cost would get now; null when affordable" }),
    available_after: z.number().int(),
    remaining_operations: z.number().int().nullable(),
    average_cost: z.number().nullable().openapi({ description: "This operation's average cost in the account's history (2 decimals); null when it has none" }),
    debt: z.number().int(),
    account_id: z.string(),
    operation: z.string().nullable().openapi({ description: "The priced operation; null for a quote of a plain amount" }),
    breakdown: z.array(
      z
        .object({
          quantity: z.string(),
          units: z.number().int(),
          rate: RateSchema,
          cost: z.string().openapi({
            description:
              "The line's exact cost in the smallest credit unit, as text so that no float rounds it: a decimal where it terminates (\"0.375\"), else the reduced fraction (\"1/3\"). Only the quote's total `cost` is rounded, up, once.",
            example: "0.375",
          }),
        })
        .openapi("QuoteLine"),
    ),
  })
  .openapi("Quote");

export const pricing = newRouter();

serve(pricing, {
  method: "get",
  path: "/v1/prices",
  summary: "Every operation's price",
  middleware: [requireScope("read")] as const,
  responses: { 200: jsonResponse(z.object({ data: z.array(Price) }), "Prices"), ...errors(401) },
}, async (c) => {
  const rows = await drizzle(c.env.DB).select().from(prices).orderBy(prices.operation).all();
  return c.json({ data: rows.map(toPrice) }, 200);
});

serve(pricing, {
  method: "put",
  path: "/v1/prices/{operation}",
  summary: "Set an operation's price (admin)",
  middleware: [requireScope("admin")] as const,
  request: {
    params: z.object({ operation: OperationName.openapi({ param: { name: "operation", in: "path" } }) }),
    body: jsonBody(PriceBody),
  },
  responses: { 200: jsonResponse(Price, "The price"), ...errors(400, 401, 403) },
}, async (c, { params, body }) => {
  const { operation } = params;
  const row = { operation, rates: JSON.stringify(body.rates), description: body.description ?? null, updatedAt: Date.now() };
  await drizzle(c.env.DB)
    .insert(prices)
    .values(row)
    .onConflictDoUpdate({ target: prices.operation, set: { rates: row.rates, description: row.description, updatedAt: row.updatedAt } });
  forgetPrices();
  return c.json(toPrice(row), 200);
});

serve(pricing, {
  method: "post",
  path: "/v1/accounts/{id}/quote",
  summary: "What an operation would cost this account, and whether it can pay",
  middleware: [requireScope("read")] as const,
  request: { params: AccountIdParam, body: jsonBody(QuoteBody) },
  responses: { 200: jsonResponse(Quote, "The quote"), ...errors(400, 401, 404) },
}, async (c, { params, body }) => {
  const { id } = params;
  const priced = await priceCharge(c.env, body);
  const reply = await ledgerOf(c.env, id).quote({ cost: priced.amount, operation: priced.operation });
  if (reply.status !== 200) return send(reply);
  const quote = { ...(JSON.parse(reply.json) as Record<string, unknown>), operation: priced.operation, breakdown: priced.breakdown ?? [] };
  return send({ ...reply, json: JSON.stringify(quote) });
});
