import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, lt, lte, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { accounts, ledgerEntries } from "../db/schema";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonResponse } from "./schemas";

const EntriesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).optional(),
    cursor: z.string().regex(/^\d{1,16}$/, "is not a cursor from next_cursor").optional(),
    kind: z.string().max(64).optional(),
    operation: z.string().max(128).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

const Entry = z
  .object({
    id: z.string(),
    kind: z.string(),
    amount: z.number().int(),
    balance_after: z.number().int(),
    operation: z.string().nullable(),
    quantities: z.record(z.string(), z.number()).nullable(),
    hold_id: z.string().nullable(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    created_at: z.string(),
  })
  .passthrough()
  .openapi("Entry");

const parse = (text: string | null) => (text === null ? null : JSON.parse(text));

export const entries = newRouter();

serve(entries, {
  method: "get",
  path: "/v1/accounts/{id}/entries",
  summary: "The account's journal, newest first (from D1; an entry appears within about a second)",
  middleware: [requireScope("read")] as const,
  request: { params: AccountIdParam, query: EntriesQuery },
  responses: {
    200: jsonResponse(z.object({ data: z.array(Entry), next_cursor: z.string().nullable() }), "Entries"),
    ...errors(400, 401, 404),
  },
}, async (c, { params, query }) => {
  const { id } = params;
  const q = query;
  const limit = q.limit ?? 25;
  const db = drizzle(c.env.DB);
  const where: SQL[] = [eq(ledgerEntries.accountId, id)];
  if (q.cursor) where.push(lt(ledgerEntries.seq, Number(q.cursor)));
  if (q.kind) where.push(eq(ledgerEntries.kind, q.kind));
  if (q.operation) where.push(eq(ledgerEntries.operation, q.operation));
  if (q.from) where.push(gte(ledgerEntries.createdAt, Date.parse(q.from)));
  if (q.to) where.push(lte(ledgerEntries.createdAt, Date.parse(q.to)));
  const rows = await db
    .select()
    .from(ledgerEntries)
    .where(and(...where))
    .orderBy(desc(ledgerEntries.seq))
    .limit(limit + 1)
    .all();
  if (rows.length === 0) {
    // An account created moments ago may not be in the directory yet: the object is the authority.
    const known = await db.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, id)).get();
    if (!known) {
      const reply = await ledgerOf(c.env, id).view();
      if (reply.status === 404) return send(reply);
    }
  }
  const page = rows.slice(0, limit);
  return c.json(
    {
      data: page.map((r) => ({
        id: r.id,
        kind: r.kind,
        amount: r.amount,
        balance_after: r.balanceAfter,
        operation: r.operation,
        quantities: parse(r.quantities),
        hold_id: r.holdId,
        lot_id: r.lotId,
        reserved: r.reserved,
        description: r.description,
        metadata: parse(r.metadata),
        created_at: new Date(r.createdAt).toISOString(),
      })),
      next_cursor: rows.length > limit ? String(page.at(-1)?.seq) : null,
    },
    200,
  );
});
