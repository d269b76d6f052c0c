import { z } from "@hono/zod-openapi";
import { entryView, listEntries } from "../db/history";
import { historyDb } from "../db/shards";
import { requireScope } from "../http/auth";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { unknownAccount } from "./ledger";
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
    lot_id: z.string().nullable().openapi({ description: "The credit lot a grant, purchase, expiry or clawback entry concerns" }),
    reserved: z.number().int().nullable().openapi({ description: "For hold entries: the credits reserved or let go, which do not change the balance" }),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    created_at: z.string(),
  })
  .openapi("Entry");

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
}, async (c, { params, query: q }) => {
  const { id } = params;
  const limit = q.limit ?? 25;
  const db = await historyDb(c.env, id);
  const rows = !db ? [] : await listEntries(db, {
    accountId: id,
    before: q.cursor === undefined ? undefined : Number(q.cursor),
    kind: q.kind,
    operation: q.operation,
    from: q.from === undefined ? undefined : Date.parse(q.from),
    to: q.to === undefined ? undefined : Date.parse(q.to),
    limit: limit + 1,
  });
  const missing = rows.length === 0 ? await unknownAccount(c.env, id) : null;
  if (missing) return send(missing);
  const page = rows.slice(0, limit);
  return c.json({ data: page.map((r) => entryView(id, r)), next_cursor: rows.length > limit ? String(page.at(-1)?.seq) : null }, 200);
});
