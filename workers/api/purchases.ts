import { z } from "@hono/zod-openapi";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { unknownAccount } from "./ledger";
import { AccountIdParam, errors, jsonResponse } from "./schemas";

const PurchasesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).optional(),
    cursor: z.string().regex(/^\d{1,16}\.[A-Za-z0-9_]{1,255}$/, "is not a cursor from next_cursor").optional(),
  })
  .strict();

const Purchase = z
  .object({
    id: z.string().openapi({ description: "The Stripe Checkout Session id" }),
    package_id: z.string(),
    credits: z.number().int().openapi({ description: "The credits bought (as promised when the checkout was created)" }),
    amount: z.number().int().openapi({ description: "The price paid, in the currency's smallest unit" }),
    currency: z.string(),
    status: z.enum(["paid", "refunded", "partially_refunded", "disputed"]),
    credits_clawed_back: z.number().int().openapi({ description: "Taken back by refunds and by disputes not won" }),
    stripe: z.object({ checkout_session: z.string(), payment_intent: z.string().nullable() }),
    created_at: z.string(),
  })
  .openapi("Purchase");

interface Row {
  id: string;
  package_id: string;
  credits: number;
  amount: number;
  currency: string;
  status: "paid" | "refunded" | "partially_refunded" | "disputed";
  credits_clawed_back: number;
  payment_intent: string | null;
  created_at: number;
}

export const purchasesRoutes = newRouter();

serve(purchasesRoutes, {
  method: "get",
  path: "/v1/accounts/{id}/purchases",
  summary: "The account's credit purchases, newest first: what was paid, credited and clawed back",
  middleware: [requireScope("read")] as const,
  request: { params: AccountIdParam, query: PurchasesQuery },
  responses: { 200: jsonResponse(z.object({ data: z.array(Purchase), next_cursor: z.string().nullable() }), "Purchases"), ...errors(400, 401, 404) },
}, async (c, { params, query }) => {
  const { id } = params;
  const limit = query.limit ?? 25;
  // The cursor is "<created_at>.<id>" of the last purchase shown (the schema checked its form).
  const dot = query.cursor?.indexOf(".") ?? -1;
  const [afterAt, afterId] = query.cursor ? [Number(query.cursor.slice(0, dot)), query.cursor.slice(dot + 1)] : [null, null];
  // Checkouts not paid (yet), or whose payment failed, are not purchases: they moved no credit.
  const rows = (
    await c.env.DB.prepare(
      `SELECT id, package_id, credits, amount, currency, status, credits_clawed_back, payment_intent, created_at FROM purchases
       WHERE account_id = ?1 AND status NOT IN ('pending', 'failed') AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
      .bind(id, afterAt, afterId, limit + 1)
      .all<Row>()
  ).results;
  const missing = rows.length === 0 ? await unknownAccount(c.env, id) : null;
  if (missing) return send(missing);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return c.json(
    {
      data: page.map((r) => ({
        id: r.id,
        package_id: r.package_id,
        credits: r.credits,
        amount: r.amount,
        currency: r.currency,
        status: r.status,
        credits_clawed_back: r.credits_clawed_back,
        stripe: { checkout_session: r.id, payment_intent: r.payment_intent },
        created_at: new Date(r.created_at).toISOString(),
      })),
      next_cursor: rows.length > limit && last ? `${last.created_at}.${last.id}` : null,
    },
    200,
  );
});
