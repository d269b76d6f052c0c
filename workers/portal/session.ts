// Who is looking at the hosted page. An app asks for a one-time link (POST …/portal-sessions): its
// token is kept in D1 by its hash, valid one hour, used once. Opening it sets a session cookie bound
// to that one account: `<payload>.<HMAC-SHA256 with SESSION_SECRET>`, HttpOnly, SameSite=Lax, Secure
// (except on http://localhost in development), at most 12 hours. Every form carries a CSRF token
// derived from the session's own id, so a form from another session (or another site) is refused.
import { hmacHex, randomToken, sameText, sha256Hex } from "../http/crypto";
import type { Env } from "../env";

export const LINK_TTL_MS = 3_600_000;
export const SESSION_TTL_MS = 12 * 3_600_000;
export const COOKIE = "credence_portal";

export interface PortalSession {
  accountId: string;
  /** Random per session: the CSRF token derives from it. */
  sid: string;
  expiresAt: number;
  returnUrl: string | null;
}

export function sessionSecret(env: Env): string | null {
  return env.SESSION_SECRET && env.SESSION_SECRET.length >= 16 ? env.SESSION_SECRET : null;
}

/** A new one-time link's token (returned once; D1 keeps its hash). */
export async function createLink(db: D1Database, accountId: string, returnUrl: string | null, now: number): Promise<{ token: string; expiresAt: number }> {
  const token = randomToken(40);
  const expiresAt = now + LINK_TTL_MS;
  await db
    .prepare("INSERT INTO portal_links (token_hash, account_id, return_url, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")
    .bind(await sha256Hex(token), accountId, returnUrl, now, expiresAt)
    .run();
  return { token, expiresAt };
}

export type Redeemed = { ok: true; accountId: string; returnUrl: string | null } | { ok: false; why: "unknown" | "used" | "expired"; returnUrl: string | null };

/** Uses a link once: the first to redeem it wins (one UPDATE), every later try is told it was used. */
export async function redeemLink(db: D1Database, token: string, now: number): Promise<Redeemed> {
  if (!/^[A-Za-z0-9]{20,80}$/.test(token)) return { ok: false, why: "unknown", returnUrl: null };
  const hash = await sha256Hex(token);
  const taken = await db
    .prepare("UPDATE portal_links SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING account_id, return_url")
    .bind(hash, now)
    .first<{ account_id: string; return_url: string | null }>();
  if (taken) return { ok: true, accountId: taken.account_id, returnUrl: taken.return_url };
  const row = await db.prepare("SELECT used_at, expires_at, return_url FROM portal_links WHERE token_hash = ?").bind(hash).first<{ used_at: number | null; expires_at: number; return_url: string | null }>();
  if (!row) return { ok: false, why: "unknown", returnUrl: null };
  return { ok: false, why: row.used_at !== null ? "used" : "expired", returnUrl: row.return_url };
}

const b64url = (text: string) => btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromB64url = (text: string) => new TextDecoder().decode(Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)));

export async function sealSession(secret: string, session: PortalSession): Promise<string> {
  const payload = b64url(JSON.stringify({ a: session.accountId, s: session.sid, e: session.expiresAt, r: session.returnUrl }));
  return `${payload}.${await hmacHex(secret, `session\n${payload}`)}`;
}

export async function openSession(secret: string, cookie: string | undefined, now: number): Promise<PortalSession | null> {
  if (!cookie) return null;
  const dot = cookie.lastIndexOf(".");
  if (dot < 1) return null;
  const payload = cookie.slice(0, dot);
  if (!sameText(cookie.slice(dot + 1), await hmacHex(secret, `session\n${payload}`))) return null;
  try {
    const v = JSON.parse(fromB64url(payload)) as { a: unknown; s: unknown; e: unknown; r: unknown };
    if (typeof v.a !== "string" || typeof v.s !== "string" || typeof v.e !== "number" || v.e <= now) return null;
    return { accountId: v.a, sid: v.s, expiresAt: v.e, returnUrl: typeof v.r === "string" ? v.r : null };
  } catch {
    return null;
  }
}

export const newSession = (accountId: string, returnUrl: string | null, now: number): PortalSession => ({
  accountId,
  sid: randomToken(24),
  expiresAt: now + SESSION_TTL_MS,
  returnUrl,
});

export const csrfToken = (secret: string, session: PortalSession) => hmacHex(secret, `csrf\n${session.sid}`);

export async function csrfValid(secret: string, session: PortalSession, token: unknown): Promise<boolean> {
  return typeof token === "string" && sameText(token, await csrfToken(secret, session));
}

/** Secure everywhere except plain-http localhost in development (a browser drops Secure cookies there). */
export function cookieIsSecure(env: Env, url: URL): boolean {
  const local = url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1");
  return !(env.ENVIRONMENT === "development" && local);
}
