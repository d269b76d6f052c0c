// API keys: `Authorization: Bearer cr_…`. Keys are stored as SHA-256 hashes; checking one costs a hash
// and, at most every KEY_CACHE_TTL_MS per isolate, one D1 read. Revoking a key therefore takes effect
// within KEY_CACHE_TTL_MS everywhere (at once in the isolate that revoked it).
//
// Abuse: valid and unknown keys live in separate bounded LRU caches, so a flood of junk keys can never
// push a valid key out. Every failed authentication counts against the client IP in the AUTH_FAILURES
// rate limiter (wrangler.toml); a client over it is answered 429 and, for AUTH_BLOCK_MS, its uncached
// keys are refused in this isolate without a D1 read. Keys it has already proven keep working.

import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import { apiKeys } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "./errors";
import { sha256Hex } from "./crypto";
import { Lru } from "./lru";

export const SCOPES = ["read", "write", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Caller {
  keyId: string;
  scopes: readonly Scope[];
}

export const KEY_CACHE_TTL_MS = 30_000;
export const NEGATIVE_TTL_MS = 5_000;
export const MAX_CACHED_KEYS = 10_000;
export const MAX_NEGATIVE_KEYS = 2_000;
const MAX_BLOCKED_CLIENTS = 10_000;
/** How long a client the rate limiter refused is answered 429 here; the binding's period. */
export const AUTH_BLOCK_MS = 60_000;
/** The client when there is no CF-Connecting-IP header (local runs). */
export const UNKNOWN_CLIENT = "unknown";

interface ValidEntry {
  caller: Caller;
  hash: string;
  until: number;
}

/** Keyed by the presented key itself, so a cached key costs no hashing at all on the hot path. */
const valid = new Lru<string, ValidEntry>(MAX_CACHED_KEYS);
/** Unknown or revoked keys → until when that answer holds. */
const invalid = new Lru<string, number>(MAX_NEGATIVE_KEYS);
/** Client IPs over their failure limit → until when their uncached keys are refused. */
const blocked = new Lru<string, number>(MAX_BLOCKED_CLIENTS);
let adminHash: { secret: string; hash: string } | null = null;

export function forgetKey(hash: string): void {
  for (const [key, entry] of valid.entries()) if (entry.hash === hash) valid.delete(key);
}

/** For tests: forget everything this isolate has cached (keys and refused clients). */
export function clearKeyCache(): void {
  valid.clear();
  invalid.clear();
  blocked.clear();
}

/** For tests: how many entries each cache holds. */
export function keyCacheSizes(): { valid: number; invalid: number; blocked: number } {
  return { valid: valid.size, invalid: invalid.size, blocked: blocked.size };
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

function rateLimited(ms: number): ApiError {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  return new ApiError(
    429,
    "rate_limited",
    `Too many failed authentications from this client; retry in ${seconds} seconds with a valid API key.`,
    {},
    { "Retry-After": String(seconds) },
  );
}

/** Counts a failed authentication against the client; the error to answer with. */
async function refuse(env: Env, client: string, now: number): Promise<ApiError> {
  if (env.AUTH_FAILURES) {
    let allowed = true;
    try {
      allowed = (await env.AUTH_FAILURES.limit({ key: client })).success;
    } catch (err) {
      console.error("AUTH_FAILURES rate limiter failed; not limiting", err);
    }
    if (!allowed) {
      blocked.set(client, now + AUTH_BLOCK_MS);
      return rateLimited(AUTH_BLOCK_MS);
    }
  }
  return new ApiError(401, "unauthorized", "This API key is not valid or has been revoked.");
}

export async function authenticate(
  env: Env,
  authorization: string | undefined,
  client: string = UNKNOWN_CLIENT,
  now = Date.now(),
): Promise<Caller> {
  const match = authorization?.match(/^Bearer\s+(\S{8,256})$/);
  if (!match) {
    throw new ApiError(401, "unauthorized", "Send your API key as 'Authorization: Bearer <key>'.");
  }
  const key = match[1] as string;
  const hit = valid.get(key);
  if (hit) {
    if (hit.until > now) return hit.caller;
    valid.delete(key);
  }
  const blockedUntil = blocked.get(client);
  if (blockedUntil !== undefined) {
    if (blockedUntil > now) throw rateLimited(blockedUntil - now);
    blocked.delete(client);
  }
  const knownBad = invalid.get(key);
  if (knownBad !== undefined) {
    if (knownBad > now) throw await refuse(env, client, now);
    invalid.delete(key);
  }
  const hash = await sha256Hex(key);
  const caller = await lookUp(env, hash);
  if (caller) {
    valid.set(key, { caller, hash, until: now + KEY_CACHE_TTL_MS });
    return caller;
  }
  invalid.set(key, now + NEGATIVE_TTL_MS);
  throw await refuse(env, client, now);
}

/** admin ⊃ write ⊃ read. */
export function allows(scopes: readonly Scope[], needed: Scope): boolean {
  if (scopes.includes("admin")) return true;
  if (needed === "read") return scopes.includes("read") || scopes.includes("write");
  return scopes.includes(needed);
}

export type AuthVariables = { caller: Caller };

export const requireKey = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  const client = c.req.header("cf-connecting-ip")?.slice(0, 64) || UNKNOWN_CLIENT;
  c.set("caller", await authenticate(c.env, c.req.header("authorization"), client));
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
