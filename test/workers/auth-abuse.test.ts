// Abuse paths of authentication: junk keys cannot evict valid ones, unknown keys are cached briefly,
// and failed authentications are rate limited per client IP (AUTH_FAILURES in wrangler.toml).
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../workers/env";
import { ApiError } from "../../workers/http/errors";
import { authenticate, clearKeyCache, forgetKey, keyCacheSizes, MAX_NEGATIVE_KEYS, NEGATIVE_TTL_MS } from "../../workers/http/auth";
import { sha256Hex } from "../../workers/http/crypto";
import { Lru } from "../../workers/http/lru";
import { api } from "./helpers";

/** simple.limit of AUTH_FAILURES in wrangler.toml. */
const LIMIT = 30;

let serial = 0;
/** A client IP no other test (or test file) uses, so limiter counts never leak between tests. */
const uniqueIp = () => `2001:db8:${Date.now().toString(16).slice(-4)}:${Math.random().toString(16).slice(2, 6)}::${++serial}`;
const junk = () => `cr_junk_${crypto.randomUUID()}`;
const from = (ip: string) => ({ "cf-connecting-ip": ip });

/** The worker's env with D1 reads (prepared statements) counted; AUTH_FAILURES absent unless given. */
function counting(limiter?: RateLimit, db: D1Database = env.DB): { env: Env; reads: () => number } {
  let reads = 0;
  const DB = new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (prop === "prepare") reads++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const base = env as unknown as Env;
  return { env: { LEDGER: base.LEDGER, HISTORY: base.HISTORY, DELIVERIES: base.DELIVERIES, ADMIN_API_KEY: base.ADMIN_API_KEY, DB, AUTH_FAILURES: limiter }, reads: () => reads };
}

/**
 * A D1 stand-in that holds no API keys. Local D1 answers a few hundred reads a second, too slow for
 * floods of thousands of junk keys; to authenticate() a miss here is the same as a miss in D1.
 */
function emptyDb(): D1Database {
  const stmt = {
    bind: () => stmt,
    raw: async () => [],
    all: async () => ({ results: [], success: true, meta: {} }),
    first: async () => null,
    run: async () => ({ results: [], success: true, meta: {} }),
  };
  return { prepare: () => stmt } as unknown as D1Database;
}

/** The ApiError authenticate() threw, or null when it let the key in. */
async function refusal(e: Env, key: string, ip = "unknown", now?: number): Promise<ApiError | null> {
  try {
    await authenticate(e, `Bearer ${key}`, ip, now);
    return null;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
}

async function newKey(scopes: string[] = ["read"]): Promise<string> {
  const res = await api("POST", "/v1/api-keys", { body: { name: "abuse test", scopes } });
  expect(res.status).toBe(201);
  return res.body.key as string;
}

describe("Lru", () => {
  it("evicts the least recently used entry past its bound, never everything", () => {
    const lru = new Lru<string, number>(3);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("c", 3);
    expect(lru.get("a")).toBe(1); // a is now the most recent
    lru.set("d", 4);
    expect(lru.size).toBe(3);
    expect(lru.get("b")).toBeUndefined();
    expect([...lru.entries()].map(([k]) => k)).toEqual(["c", "a", "d"]);
  });
});

describe("failed authentications are rate limited per client IP", () => {
  it("past the limit junk keys get 429 with Retry-After; a key already proven still works; other IPs are unaffected", async () => {
    const ip = uniqueIp();
    expect((await api("GET", "/v1/api-keys", { headers: from(ip) })).status).toBe(200); // the admin key, now cached

    let unauthorized = 0;
    let last = await api("GET", "/v1/api-keys", { key: junk(), headers: from(ip) });
    while (last.status === 401 && unauthorized <= 2 * LIMIT) {
      unauthorized++;
      last = await api("GET", "/v1/api-keys", { key: junk(), headers: from(ip) });
    }
    // Exactly LIMIT, unless the limiter's minute window (aligned to the clock) rolled over mid-test.
    expect(unauthorized).toBeGreaterThanOrEqual(LIMIT);
    expect(unauthorized).toBeLessThanOrEqual(2 * LIMIT);
    expect(last.status).toBe(429);
    expect(last.body.error.type).toBe("rate_limited");
    expect(last.body.error.message).toMatch(/too many failed authentications/i);
    expect(last.headers.get("retry-after")).toBe("60");

    const again = await api("GET", "/v1/api-keys", { key: junk(), headers: from(ip) });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);

    expect((await api("GET", "/v1/api-keys", { headers: from(ip) })).status).toBe(200);
    expect((await api("GET", "/v1/api-keys", { key: junk(), headers: from(uniqueIp()) })).status).toBe(401);
    // A missing header costs no lookup and stays a plain 401.
    expect((await api("GET", "/v1/api-keys", { key: null, headers: from(ip) })).status).toBe(401);
  });

  it("a refused client's uncached keys are answered 429 without a D1 read", async () => {
    clearKeyCache();
    const refuseAll: RateLimit = { limit: async () => ({ success: false }) };
    const { env: e, reads } = counting(refuseAll);
    const ip = uniqueIp();
    const proven = await newKey();
    const unproven = await newKey();
    expect(await refusal(e, proven, ip)).toBeNull();

    const first = await refusal(e, junk(), ip);
    expect(first?.status).toBe(429);
    expect(first?.headers).toEqual({ "Retry-After": "60" });
    const before = reads();
    expect((await refusal(e, junk(), ip))?.status).toBe(429);
    expect((await refusal(e, unproven, ip))?.status).toBe(429);
    expect(reads()).toBe(before);
    expect(await refusal(e, proven, ip)).toBeNull();
    expect(await refusal(e, unproven, uniqueIp())).toBeNull();
  });

  it("without the binding (an older config) failures are plain 401s", async () => {
    const { env: e } = counting();
    const ip = uniqueIp();
    for (let i = 0; i < LIMIT + 5; i++) expect((await refusal(e, junk(), ip))?.status).toBe(401);
  });

  it("a failing limiter does not turn failures into errors", async () => {
    const broken: RateLimit = { limit: async () => { throw new Error("limiter down"); } };
    const { env: e } = counting(broken);
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    expect((await refusal(e, junk(), uniqueIp()))?.status).toBe(401);
    expect(logged).toHaveBeenCalledOnce();
    logged.mockRestore();
  });
});

describe("junk keys never evict valid ones", () => {
  beforeEach(() => clearKeyCache());

  it("after 12,000 distinct junk keys a valid key used before costs no D1 read", { timeout: 60_000 }, async () => {
    const { env: real, reads } = counting();
    const { env: flood, reads: floodReads } = counting(undefined, emptyDb());
    const now = Date.now(); // one instant throughout, so no entry expires however long the flood takes
    const key = await newKey();
    expect(await refusal(real, key, "unknown", now)).toBeNull();
    expect(reads()).toBe(1);

    const FLOOD = 12_000;
    for (let i = 0; i < FLOOD; i++) expect((await refusal(flood, junk(), "unknown", now))?.status).toBe(401);
    expect(floodReads()).toBe(FLOOD); // each junk key was a real miss
    expect(keyCacheSizes().invalid).toBe(MAX_NEGATIVE_KEYS);

    expect(await refusal(real, key, "unknown", now)).toBeNull();
    expect(reads()).toBe(1); // still cached: no second read
  });
});

describe("unknown keys are cached briefly", () => {
  beforeEach(() => clearKeyCache());

  it("a second try of the same unknown key costs no D1 read until NEGATIVE_TTL_MS passes", async () => {
    const { env: e, reads } = counting();
    const bad = junk();
    const now = Date.now();
    expect((await refusal(e, bad, "unknown", now))?.status).toBe(401);
    expect(reads()).toBe(1);
    expect((await refusal(e, bad, "unknown", now + 1))?.status).toBe(401);
    expect(reads()).toBe(1);
    expect((await refusal(e, bad, "unknown", now + NEGATIVE_TTL_MS + 1))?.status).toBe(401);
    expect(reads()).toBe(2);
  });
});

describe("the unknown-key cache is bounded", () => {
  beforeEach(() => clearKeyCache());

  it(`holds at most ${MAX_NEGATIVE_KEYS} keys, dropping the least recently used`, { timeout: 30_000 }, async () => {
    const { env: e, reads } = counting(undefined, emptyDb());
    const now = Date.now();
    const keys = Array.from({ length: MAX_NEGATIVE_KEYS + 100 }, junk);
    for (const k of keys) await refusal(e, k, "unknown", now);
    expect(reads()).toBe(keys.length);
    expect(keyCacheSizes().invalid).toBe(MAX_NEGATIVE_KEYS);

    await refusal(e, keys.at(-1) as string, "unknown", now); // recent: still cached
    expect(reads()).toBe(keys.length);
    await refusal(e, keys[0] as string, "unknown", now); // oldest: evicted, looked up again
    expect(reads()).toBe(keys.length + 1);
  });
});

describe("forgetKey", () => {
  beforeEach(() => clearKeyCache());

  it("drops a revoked key from the cache, so the next use is refused at once", async () => {
    const { env: e, reads } = counting();
    const key = await newKey();
    expect(await refusal(e, key)).toBeNull();
    expect(await refusal(e, key)).toBeNull();
    expect(reads()).toBe(1);
    const hash = await sha256Hex(key);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE hash = ?").bind(Date.now(), hash).run();
    forgetKey(hash);
    expect((await refusal(e, key))?.status).toBe(401);
    expect(reads()).toBe(2);
  });
});
