// Verifying a Credence webhook on the receiving side. Dependency-free (WebCrypto only), so it runs in
// Workers, Node 20+, Deno and Bun; the typed client re-exports it.
//
//   const ok = await verifyCredenceSignature(await request.text(), request.headers.get("Credence-Signature"), secret);
//   if (!ok) return new Response("bad signature", { status: 400 });
//
// The header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>`, with
// one v1 per secret while a secret is being rotated: any one matching is enough. Verify the raw bytes
// received, before any JSON parsing.

export interface VerifyOptions {
  /** How old (or how far in the future) the timestamp may be; default 300 s, as Stripe's. */
  toleranceSeconds?: number;
  /** The current time in ms, for tests; default Date.now(). */
  now?: number;
}

const encoder = new TextEncoder();

function toBytes(body: string | ArrayBuffer | Uint8Array): Uint8Array {
  if (typeof body === "string") return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function toHex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Equal strings, in time that does not depend on where they differ. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The header's timestamp and v1 signatures; null when it is not one. */
export function parseCredenceSignature(header: string): { timestamp: number; signatures: string[] } | null {
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  return timestamp === null || signatures.length === 0 ? null : { timestamp, signatures };
}

/** The v1 signature of a body at a timestamp, with one secret (hex). */
export async function credenceSignature(body: string | ArrayBuffer | Uint8Array, timestamp: number, secret: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const prefix = encoder.encode(`${timestamp}.`);
  const bytes = toBytes(body);
  const signed = new Uint8Array(prefix.length + bytes.length);
  signed.set(prefix);
  signed.set(bytes, prefix.length);
  return toHex(await crypto.subtle.sign("HMAC", key, signed));
}

/**
 * True when `header` signs `rawBody` with `secret` and its timestamp is within the tolerance; false
 * for a missing or malformed header, a tampered body, another secret, or a stale timestamp. `header`
 * may be given as Node's `req.headers["credence-signature"]`: a repeated header is refused.
 */
export async function verifyCredenceSignature(
  rawBody: string | ArrayBuffer | Uint8Array,
  headerValue: string | readonly string[] | null | undefined,
  secret: string,
  options: VerifyOptions = {},
): Promise<boolean> {
  // Credence sends the header once; two of them mean someone else added one.
  const header = typeof headerValue === "string" ? headerValue : headerValue?.length === 1 ? headerValue[0] : undefined;
  if (!header || !secret) return false;
  const parsed = parseCredenceSignature(header);
  if (!parsed) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - parsed.timestamp) > tolerance) return false;
  const expected = await credenceSignature(rawBody, parsed.timestamp, secret);
  return parsed.signatures.some((signature) => sameText(signature, expected));
}
