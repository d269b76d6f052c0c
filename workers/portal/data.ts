// What the hosted page reads, always for the session's own account: the object's view, the catalogue,
// the history and usage in D1, and the purchases. Nothing here takes an account id from the request.
import { drizzle } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import type { AccountView } from "../../durable-objects/views";
import { ledgerOf } from "../api/ledger";
import { describePackages } from "../api/packages";
import { packages, prices } from "../db/schema";
import { listEntries, type EntryRow } from "../db/history";
import { historyDb } from "../db/shards";
import { readUsage, type UsageRow } from "../db/usage";
import type { Env } from "../env";
import type { Rate } from "../../durable-objects/ledger/pricing";
import { dayKey } from "../../durable-objects/ledger/limits";

export async function accountOf(env: Env, accountId: string): Promise<AccountView | null> {
  const reply = await ledgerOf(env, accountId).view();
  return reply.status === 200 ? (JSON.parse(reply.json) as AccountView) : null;
}

export interface PriceLine {
  operation: string;
  description: string | null;
  rates: Record<string, Rate>;
}

export async function priceList(env: Env): Promise<PriceLine[]> {
  const rows = await drizzle(env.DB).select().from(prices).orderBy(prices.operation).all();
  return rows.map((r) => ({ operation: r.operation, description: r.description, rates: JSON.parse(r.rates) as Record<string, Rate> }));
}

export async function packageList(env: Env) {
  const rows = await drizzle(env.DB).select().from(packages).where(eq(packages.active, true)).orderBy(packages.credits).all();
  return describePackages(rows);
}

/** What this account pays on average per operation (its history), for "a typical request" and "about N more". */
export async function averages(env: Env, accountId: string, operations: string[]): Promise<Map<string, { average: number | null; remaining: number | null }>> {
  const stub = ledgerOf(env, accountId);
  const out = new Map<string, { average: number | null; remaining: number | null }>();
  await Promise.all(
    operations.map(async (operation) => {
      const reply = await stub.quote({ cost: 1, operation });
      if (reply.status !== 200) return;
      const body = JSON.parse(reply.json) as { average_cost: number | null; available: number };
      const average = body.average_cost;
      out.set(operation, { average, remaining: average && average > 0 ? Math.floor(body.available / average) : null });
    }),
  );
  return out;
}

export async function historyPage(env: Env, accountId: string, filter: { before?: number; kind?: string; operation?: string; limit: number }): Promise<EntryRow[]> {
  const db = await historyDb(env, accountId);
  return db ? listEntries(db, { accountId, ...filter }) : [];
}

export async function dailyUsage(env: Env, accountId: string, timeZone: string | null, days: number, now: number): Promise<UsageRow[]> {
  const db = await historyDb(env, accountId);
  if (!db) return [];
  const to = dayKey(now, timeZone);
  const from = dayKey(now - (days - 1) * 86_400_000, timeZone);
  return readUsage(db, { accountId, granularity: "day", from, to });
}

export interface PurchaseLine {
  id: string;
  package_id: string;
  credits: number;
  amount: number;
  currency: string;
  status: string;
  credits_clawed_back: number;
  lot_id: string | null;
  created_at: number;
}

export async function purchaseList(env: Env, accountId: string): Promise<PurchaseLine[]> {
  const rows = await env.DB.prepare(
    `SELECT id, package_id, credits, amount, currency, status, credits_clawed_back, lot_id, created_at FROM purchases
     WHERE account_id = ?1 AND status NOT IN ('pending', 'failed') ORDER BY created_at DESC LIMIT 50`,
  )
    .bind(accountId)
    .all<PurchaseLine>();
  return rows.results;
}

/** A checkout of this account (never another's): its status, for the return page's polling. */
export async function checkoutOf(env: Env, accountId: string, sessionId: string) {
  return env.DB.prepare("SELECT id, credits, status, lot_id FROM purchases WHERE id = ?1 AND account_id = ?2")
    .bind(sessionId, accountId)
    .first<{ id: string; credits: number; status: string; lot_id: string | null }>();
}
