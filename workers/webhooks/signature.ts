// Signing an outgoing delivery: one v1 per secret in force (the new one first, then the previous one
// while a rotation's 24 hours last), so receivers verify with either.
import { credenceSignature } from "./verify-signature";

export async function signatureHeader(body: string, secrets: string[], timestamp: number): Promise<string> {
  const signatures = await Promise.all(secrets.map((secret) => credenceSignature(body, timestamp, secret)));
  return [`t=${timestamp}`, ...signatures.map((s) => `v1=${s}`)].join(",");
}

/** A new endpoint secret: whsec_ and 32 random bytes, base64url. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}
