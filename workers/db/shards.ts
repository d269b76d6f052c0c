// History (entries, events, daily usage) is spread over several D1 databases, each one bound to the
// Worker under its own name and listed in HISTORY_SHARDS. An account's shard is chosen once, when it is
// opened, by a stable hash of its id over the list as it is then; the object keeps the name and ships
// it in the directory row. Adding a shard later sends new accounts to it and moves nobody.

import type { Env } from "../env";
import { Lru } from "../http/lru";

/** The main database: the directory lives here, and so does history written before sharding. */
export const MAIN_SHARD = "DB";

const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The configured shard bindings, in order. Unset means the main database alone. */
export function shardNames(setting: string | undefined): string[] {
  if (setting === undefined || setting.trim() === "") return [MAIN_SHARD];
  const names = setting.split(",").map((name) => name.trim());
  for (const name of names) {
    if (!BINDING_NAME.test(name)) throw new Error(`HISTORY_SHARDS: '${name}' is not a binding name`);
  }
  if (new Set(names).size !== names.length) throw new Error("HISTORY_SHARDS names a database twice");
  return names;
}

/**
 * FNV-1a over the id's UTF-8 bytes, then murmur3's 32-bit finalizer: the same on every machine and in
 * every runtime, forever. FNV-1a alone keeps each byte's low bits in the hash's low bits (its lowest
 * bit is the parity of the bytes' lowest bits), so with 2 or 4 shards ids that differ in one
 * character by an even step (`acct_a`, `acct_c`) would always share a shard; the finalizer mixes
 * every bit into every other.
 */
export function shardHash(accountId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(accountId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** The shard a new account gets. */
export function shardFor(accountId: string, names: readonly string[]): string {
  return names[shardHash(accountId) % names.length] as string;
}

/** The D1 database bound as `name`; a name that is not bound is a deployment error, said plainly. */
export function shardDb(env: Env, name: string): D1Database {
  const db = (env as unknown as Record<string, unknown>)[name];
  if (!isD1(db)) throw new ShardMissingError(name);
  return db;
}

export class ShardMissingError extends Error {
  constructor(readonly shard: string) {
    super(`History shard '${shard}' is not bound to the Worker: add a [[d1_databases]] binding named ${shard} (README, "History shards")`);
  }
}

/** Whether an env value is a D1 binding (env is typed per name; a shard is named by configuration). */
export function isD1(value: unknown): value is D1Database {
  return typeof value === "object" && value !== null && typeof (value as D1Database).batch === "function" && typeof (value as D1Database).prepare === "function";
}

// An account's shard never changes once recorded, so it is remembered per isolate; bounded, because
// any number of accounts may be read.
const knownShards = new Lru<string, string>(10_000);

/**
 * The database holding the account's history, from the directory; null while nothing of the account
 * has reached D1 yet (it was opened moments ago, or does not exist).
 */
export async function historyDb(env: Env, accountId: string): Promise<D1Database | null> {
  let shard = knownShards.get(accountId);
  if (shard === undefined) {
    const row = await env.DB.prepare("SELECT history_shard FROM accounts WHERE id = ?").bind(accountId).first<{ history_shard: string }>();
    if (!row) return null;
    shard = row.history_shard;
    knownShards.set(accountId, shard);
  }
  return shardDb(env, shard);
}
