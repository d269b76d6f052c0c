// One Stripe Customer per account, created once and kept in D1 (`stripe_customers`).
//
// Concurrent first checkouts for one account all miss the row and all ask Stripe to create the
// customer, but with the same idempotency key, derived from the account id: Stripe creates it once
// and answers every one of them with it (a request that overlaps the first gets a 409 that the client
// retries). The first INSERT wins, the others are ignored, and everyone returns the stored id, so even
// a customer Stripe did create twice (a retry after its 24-hour idempotency window) is never used twice.
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type Stripe from "stripe";
import { stripeCustomers } from "../db/schema";
import type { Env } from "../env";

export const customerIdempotencyKey = (accountId: string) => `credence-customer-${accountId}`;

async function storedCustomer(env: Env, accountId: string): Promise<string | null> {
  const row = await drizzle(env.DB).select().from(stripeCustomers).where(eq(stripeCustomers.accountId, accountId)).get();
  return row?.customerId ?? null;
}

export async function customerFor(env: Env, stripe: Stripe, accountId: string): Promise<string> {
  const known = await storedCustomer(env, accountId);
  if (known) return known;
  const customer = await stripe.customers.create(
    { description: `Credence account ${accountId}`, metadata: { account_id: accountId } },
    { idempotencyKey: customerIdempotencyKey(accountId) },
  );
  await drizzle(env.DB)
    .insert(stripeCustomers)
    .values({ accountId, customerId: customer.id, createdAt: Date.now() })
    .onConflictDoNothing();
  const kept = await storedCustomer(env, accountId);
  if (!kept) throw new Error(`stripe_customers: no row for '${accountId}' right after inserting one`);
  return kept;
}
