import { env, runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";

export const ADMIN_KEY = env.ADMIN_API_KEY as string;

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

let counter = 0;
/** A fresh Idempotency-Key for each call unless the test names one. */
export const freshKey = () => `test-${Date.now()}-${++counter}-${Math.random().toString(36).slice(2)}`;

export async function api<T = any>(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; key?: string | null; idem?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? ADMIN_KEY : options.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined || options.raw !== undefined) headers["content-type"] ??= "application/json";
  if (method === "POST" && options.idem !== null) headers["idempotency-key"] ??= options.idem ?? freshKey();
  const res = await exports.default.fetch(`https://credence.test${path}`, {
    method,
    headers,
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/** Creates an account with `credits` granted (never expiring). */
export async function openAccount(id: string, credits = 0): Promise<void> {
  const created = await api("PUT", `/v1/accounts/${id}`, { body: { name: `Test ${id}` } });
  if (created.status !== 201 && created.status !== 200) throw new Error(`open ${id}: ${created.status} ${JSON.stringify(created.body)}`);
  if (credits > 0) {
    const granted = await api("POST", `/v1/accounts/${id}/grants`, { body: { amount: credits } });
    if (granted.status !== 201) throw new Error(`grant ${id}: ${granted.status} ${JSON.stringify(granted.body)}`);
  }
}

export async function account(id: string) {
  return (await api("GET", `/v1/accounts/${id}`)).body;
}

export function ledger(id: string) {
  return env.LEDGER.get(env.LEDGER.idFromName(id));
}

/** Runs the object's alarm now (history shipping, expiry), as the runtime would when it comes due. */
export async function flush(id: string): Promise<boolean> {
  const ran = await runDurableObjectAlarm(ledger(id));
  // The runtime may have started the alarm on its own a moment earlier (it is due 200 ms after a
  // change); then history lands when that run finishes. Wait for it, briefly.
  for (let attempt = 0; attempt < 20; attempt++) {
    const a = await ledger(id).audit();
    if (!a || a.shippedSeq >= a.lastSeq) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
    await runDurableObjectAlarm(ledger(id));
  }
  return ran;
}

/** The rows D1 holds for an account's history. */
export async function d1Entries(id: string): Promise<{ kind: string; amount: number; seq: number }[]> {
  const rows = await env.DB.prepare("SELECT kind, amount, seq FROM ledger_entries WHERE account_id = ? ORDER BY seq").bind(id).all();
  return rows.results as { kind: string; amount: number; seq: number }[];
}

/** Balance and Σ journal as the object sees them, to check nothing moved. */
export async function audit(id: string) {
  return ledger(id).audit();
}
