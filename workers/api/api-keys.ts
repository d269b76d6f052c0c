import { z } from "@hono/zod-openapi";
import { desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { randomId } from "../../durable-objects/ids";
import { apiKeys } from "../db/schema";
import { forgetKey, requireScope, SCOPES, type Scope } from "../http/auth";
import { randomToken, sha256Hex } from "../http/crypto";
import { ApiError } from "../http/errors";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { errors, jsonBody, jsonResponse } from "./schemas";

const KeyBody = z
  .object({
    name: z.string().min(1).max(100),
    scopes: z.array(z.enum(SCOPES)).min(1).max(3),
  })
  .strict()
  .openapi("ApiKeyInput");

const KeyInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    scopes: z.array(z.enum(SCOPES)),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
  })
  .openapi("ApiKey");

const KeyIdParam = z.object({ id: z.string().regex(/^key_[a-z0-9]{16,32}$/, "is not an API key id").openapi({ param: { name: "id", in: "path" } }) });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function info(row: typeof apiKeys.$inferSelect) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as Scope[],
    created_at: iso(row.createdAt) as string,
    revoked_at: iso(row.revokedAt),
  };
}

/** `cr_` + 40 base-62 characters (238 bits); the first 11 characters are the visible prefix. */
export function newKey(): { key: string; prefix: string } {
  const key = `cr_${randomToken(40)}`;
  return { key, prefix: key.slice(0, 11) };
}

export async function createKey(db: D1Database, name: string, scopes: Scope[], now = Date.now()) {
  const { key, prefix } = newKey();
  const row = { id: randomId("key"), name, prefix, hash: await sha256Hex(key), scopes: JSON.stringify([...new Set(scopes)]), createdAt: now, revokedAt: null };
  await drizzle(db).insert(apiKeys).values(row);
  return { ...info(row), key };
}

export const keys = newRouter();

serve(keys, {
  method: "post",
  path: "/v1/api-keys",
  summary: "Create an API key (admin); the key is shown this once",
  middleware: [requireScope("admin")] as const,
  request: { body: jsonBody(KeyBody) },
  responses: { 201: jsonResponse(KeyInfo.extend({ key: z.string() }), "Created"), ...errors(400, 401, 403) },
}, async (c, { body }) => {
  return c.json(await createKey(c.env.DB, body.name, body.scopes), 201);
});

serve(keys, {
  method: "get",
  path: "/v1/api-keys",
  summary: "List API keys (admin); never shows a key, only its prefix",
  middleware: [requireScope("admin")] as const,
  responses: { 200: jsonResponse(z.object({ data: z.array(KeyInfo) }), "Keys"), ...errors(401, 403) },
}, async (c) => {
  const rows = await drizzle(c.env.DB).select().from(apiKeys).orderBy(desc(apiKeys.createdAt)).all();
  return c.json({ data: rows.map(info) }, 200);
});

serve(keys, {
  method: "delete",
  path: "/v1/api-keys/{id}",
  summary: "Revoke an API key (admin); other isolates stop accepting it within 30 s",
  middleware: [requireScope("admin")] as const,
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(KeyInfo, "Revoked"), ...errors(401, 403, 404) },
}, async (c, { params }) => {
  const { id } = params;
  const db = drizzle(c.env.DB);
  const row = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
  if (!row) throw new ApiError(404, "api_key_not_found", `No API key ${id}.`);
  const revokedAt = row.revokedAt ?? Date.now();
  if (row.revokedAt === null) await db.update(apiKeys).set({ revokedAt }).where(eq(apiKeys.id, id));
  forgetKey(row.hash);
  return c.json(info({ ...row, revokedAt }), 200);
});
