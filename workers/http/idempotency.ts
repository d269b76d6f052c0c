// Every mutating POST carries an Idempotency-Key. The object keeps key → fingerprint + answer, so a
// retry gets the first answer and a reused key with another request gets a 409.
import type { Context } from "hono";
import type { Idempotency } from "../../durable-objects/account-ledger";
import { sha256Hex } from "./crypto";
import { ApiError } from "./errors";

const PRINTABLE = /^[\x20-\x7e]{1,255}$/;
const MAX_PLAIN_FINGERPRINT = 256;

export async function idempotency(c: Context, operation: string, input: unknown): Promise<Idempotency> {
  const key = c.req.header("idempotency-key");
  if (key === undefined) {
    throw new ApiError(
      400,
      "idempotency_key_required",
      "This request needs an Idempotency-Key header (1-255 printable characters), so a retry can never charge twice.",
    );
  }
  if (!PRINTABLE.test(key)) {
    throw new ApiError(400, "invalid_idempotency_key", "The Idempotency-Key must be 1-255 printable ASCII characters.");
  }
  // The validated input, not the raw bytes: the same request with other whitespace is the same request.
  // A short request is its own fingerprint (no hashing on the hot path); a long one is stored hashed.
  const request = `${operation}\n${canonicalJson(input)}`;
  return { key, fingerprint: request.length <= MAX_PLAIN_FINGERPRINT ? request : `sha256:${await sha256Hex(request)}` };
}

/**
 * The validated input as one string whatever order the client wrote its keys in. zod already emits an
 * object's own fields in schema order; the maps inside it (quantities, metadata, …) keep the client's
 * order, so every nested object's keys are sorted. The top level is left as zod orders it, so answers
 * stored before this change still match their retries.
 */
export function canonicalJson(input: unknown): string {
  return JSON.stringify(input, (key, value: unknown) => {
    if (key === "" || typeof value !== "object" || value === null || Array.isArray(value)) return value;
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length < 2) return value;
    const sorted: Record<string, unknown> = {};
    for (const k of keys.sort()) sorted[k] = record[k];
    return sorted;
  });
}
