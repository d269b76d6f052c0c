// API keys: `Authorization: Bearer cr_…`. Keys are stored as SHA-256 hashes; checking one costs a hash
// and, at most every KEY_CACHE_TTL_MS per isolate, one D1 read. Revoking a key therefore takes effect
// within KEY_CACHE_TTL_MS everywhere (at once in the isolate that revoked it).

import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import { apiKeys } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "./errors";
import { sha256Hex } from "./crypto";

export const SCOPES = ["read", "write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Caller {
  keyId: string;
  scopes: readonly Scope[];
}

export const KEY_CACHE_TTL_MS = 30_000;
const NEGATIVE_TTL_MS = 5_000;
const MAX_CACHED_KEYS = 10_000;

interface Cached {
  caller: Caller | null;
  hash: string;
  until: number;
}

/** Keyed by the presented key itself, so a cached key costs no hashing at all on the hot path. */
const cache = new Map<string, Cached>();
let adminHash: { secret: string; hash: string } | null = null;

export function forgetKey(hash: string): void {
  for (const [key, entry] of cache) if (entry.hash === hash) cache.delete(key);
}

/** For tests: forget everything this isolate has cached. */
export function clearKeyCache(): void {
  cache.clear();
}

async function bootstrapAdminHash(env: Env): Promise<string | null> {
  const secret = env.ADMIN_API_KEY;
  if (!secret) return null;
  if (adminHash?.secret !== secret) adminHash = { secret, hash: await sha256Hex(secret) };
  return adminHash.hash;
}

async function lookUp(env: Env, hash: string): Promise<Caller | null> {
  if (hash === (await bootstrapAdminHash(env))) return { keyId: "admin_bootstrap", scopes: ["admin"] };
  const row = await drizzle(env.DB).select().from(apiKeys).where(eq(apiKeys.hash, hash)).get();
  if (!row || row.revokedAt !== null) return null;
  return { keyId: row.id, scopes: JSON.parse(row.scopes) as Scope[] };
}

export async function authenticate(env: Env, authorization: string | undefined, now = Date.now()): Promise<Caller> {
  const match = authorization?.match(/^Bearer\s+(\S{8,256})$/);
  if (!match) {
    throw new ApiError(401, "unauthorized", "Send your API key as 'Authorization: Bearer <key>'.");
  }
  const key = match[1] as string;
  let entry = cache.get(key);
  if (!entry || entry.until <= now) {
    const hash = await sha256Hex(key);
    const caller = await lookUp(env, hash);
    if (cache.size >= MAX_CACHED_KEYS) cache.clear();
    entry = { caller, hash, until: now + (caller ? KEY_CACHE_TTL_MS : NEGATIVE_TTL_MS) };
    cache.set(key, entry);
  }
  if (!entry.caller) throw new ApiError(401, "unauthorized", "This API key is not valid or has been revoked.");
  return entry.caller;
}

/** admin ⊃ write ⊃ read. */
export function allows(scopes: readonly Scope[], needed: Scope): boolean {
  if (scopes.includes("admin")) return true;
  if (needed === "read") return scopes.includes("read") || scopes.includes("write");
  return scopes.includes(needed);
}

export type AuthVariables = { caller: Caller };

export const requireKey = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  c.set("caller", await authenticate(c.env, c.req.header("authorization")));
  await next();
});

export function requireScope(needed: Scope) {
  return createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
    const caller = c.get("caller");
    if (!allows(caller.scopes, needed)) {
      throw new ApiError(403, "forbidden", `This API key lacks the '${needed}' scope this route needs.`, { required_scope: needed });
    }
    await next();
  });
}
