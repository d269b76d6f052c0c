import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { WireReply } from "../../durable-objects/reply";
import { accounts } from "../db/schema";
import type { Env } from "../env";

/** The account's ledger object. Named by the app's own account id, so no lookup stands in between. */
export function ledgerOf(env: Env, accountId: string) {
  return env.LEDGER.get(env.LEDGER.idFromName(accountId));
}

/**
 * For a D1 listing that came back empty: the 404 to answer when the account does not exist, else
 * null. An account created moments ago may not be in the directory yet, so the object decides.
 */
export async function unknownAccount(env: Env, accountId: string): Promise<WireReply | null> {
  const known = await drizzle(env.DB).select({ id: accounts.id }).from(accounts).where(eq(accounts.id, accountId)).get();
  if (known) return null;
  const reply = await ledgerOf(env, accountId).view();
  return reply.status === 404 ? reply : null;
}
