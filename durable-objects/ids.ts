const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** A random id such as `hold_k3v9x0q2m7c1p5w8` (16 base-36 characters, about 82 bits). */
export function randomId(prefix: string, length = 16): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = `${prefix}_`;
  for (const b of bytes) out += ALPHABET[b % 36];
  return out;
}
