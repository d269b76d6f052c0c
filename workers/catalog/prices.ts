// Prices live in D1 but are read through an in-isolate cache, so pricing a debit costs no D1 query.
// A price change is seen at once by the isolate that made it and within PRICE_CACHE_TTL_MS by others.
import { drizzle } from "drizzle-orm/d1";
import { priceOperation, type BreakdownLine, type Price, type Rate } from "../../durable-objects/ledger/pricing";
import { prices } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "../http/errors";

export const PRICE_CACHE_TTL_MS = 30_000;
/** An unknown operation may be a price created moments ago elsewhere: look again, but not often. */
const MISS_RELOAD_MS = 2_000;

interface Catalogue {
  loadedAt: number;
  byOperation: Map<string, Price>;
}

let catalogue: Catalogue | null = null;
let loading: Promise<Catalogue> | null = null;
/** Bumped by every price change here, so a load that began before the change is never kept. */
let generation = 0;

export function toPrice(row: typeof prices.$inferSelect): Price {
  return { operation: row.operation, rates: JSON.parse(row.rates) as Record<string, Rate>, description: row.description };
}

async function load(env: Env): Promise<Catalogue> {
  if (loading) return loading;
  const started = generation;
  const pending = drizzle(env.DB)
    .select()
    .from(prices)
    .all()
    .then((rows) => {
      const loaded = { loadedAt: Date.now(), byOperation: new Map(rows.map((r) => [r.operation, toPrice(r)])) };
      if (started === generation) catalogue = loaded;
      return loaded;
    })
    .finally(() => {
      if (loading === pending) loading = null;
    });
  loading = pending;
  return pending;
}

export function forgetPrices(): void {
  generation++;
  catalogue = null;
  loading = null;
}

export async function findPrice(env: Env, operation: string, now = Date.now()): Promise<Price | undefined> {
  let cat = catalogue && now - catalogue.loadedAt < PRICE_CACHE_TTL_MS ? catalogue : await load(env);
  let price = cat.byOperation.get(operation);
  if (!price && now - cat.loadedAt >= MISS_RELOAD_MS) {
    cat = await load(env);
    price = cat.byOperation.get(operation);
  }
  return price;
}

export interface Priced {
  amount: number;
  operation: string | null;
  quantities: Record<string, number> | null;
  breakdown: BreakdownLine[] | null;
}

/** An exact amount as is, or an operation priced from its quantities. */
export async function priceCharge(
  env: Env,
  input: { amount?: number | undefined; operation?: string | undefined; quantities?: Record<string, number> | undefined },
): Promise<Priced> {
  if (input.operation === undefined) {
    return { amount: input.amount as number, operation: null, quantities: null, breakdown: null };
  }
  const price = await findPrice(env, input.operation);
  if (!price) {
    throw new ApiError(400, "unknown_operation", `No price for operation '${input.operation}'. See GET /v1/prices.`, { field: "operation" });
  }
  const priced = priceOperation(price, input.quantities ?? {});
  if (!priced.ok) throw new ApiError(400, "invalid_request", priced.message, { field: priced.field });
  return { amount: priced.cost, operation: input.operation, quantities: input.quantities ?? {}, breakdown: priced.breakdown };
}

/** The charge the object receives: the priced amount plus what the journal should remember. */
export function chargeOf(priced: Priced, body: { description?: string | undefined; metadata?: Record<string, unknown> | undefined }) {
  return {
    amount: priced.amount,
    operation: priced.operation,
    quantities: priced.quantities,
    description: body.description ?? null,
    metadata: body.metadata ?? null,
  };
}
