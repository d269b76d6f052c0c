import type { AccountLedger } from "../durable-objects/account-ledger";

/** The bindings and variables the Worker and the object receive (see wrangler.toml and .dev.vars). */
export interface Env {
  LEDGER: DurableObjectNamespace<AccountLedger>;
  DB: D1Database;
  /** The bootstrap admin key; set with `wrangler secret put ADMIN_API_KEY`. */
  ADMIN_API_KEY?: string;
  /** How many decimals the smallest credit unit is displayed with. */
  CREDIT_DECIMALS?: string;
}
