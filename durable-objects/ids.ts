const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** The largest multiple of 36 below 256: bytes at or above it are drawn again, or `b % 36` would favour 0-3. */
const UNBIASED_BELOW = 252;

/**
 * A random id such as `hold_k3v9x0q2m7c1p5w8a4z6` (20 base-36 characters, over 103 bits, every character
 * equally likely), for ids that need no order and must not be guessed or collide.
 */
export function randomId(prefix: string, length = 20): string {
  let out = `${prefix}_`;
  let left = length;
  while (left > 0) {
    for (const b of crypto.getRandomValues(new Uint8Array(left + 8))) {
      if (b >= UNBIASED_BELOW || left === 0) continue;
      out += ALPHABET[b % 36];
      left--;
    }
  }
  return out;
}

/**
 * Public ids of journal entries and events, derived from the account id and the sequence number.
 * Unique by construction, not by odds: the sequence is all digits after the last `_`, so two
 * different (account, seq) pairs can never spell the same id.
 */
export function entryId(accountId: string, seq: number): string {
  return `ent_${accountId}_${seq}`;
}

export function eventId(accountId: string, seq: number): string {
  return `evt_${accountId}_${seq}`;
}
