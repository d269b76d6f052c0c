import type { AccountLedger } from "../durable-objects/account-ledger";

/** The bindings and variables the Worker and the object receive (see wrangler.toml and .dev.vars). */
export interface Env {
  LEDGER: DurableObjectNamespace<AccountLedger>;
  DB: D1Database;
  /** Counts failed authentications per client IP (wrangler.toml [[ratelimits]]); absent = not limited. */
  AUTH_FAILURES?: RateLimit;
  /** The bootstrap admin key; set with `wrangler secret put ADMIN_API_KEY`. */
  ADMIN_API_KEY?: string;
  /** How far past its hold a capture may charge, in percent of the hold (default 100; 0 forbids overrun). */
  CAPTURE_OVERRUN_MAX_PERCENT?: string;
  /** How many decimals the smallest credit unit is displayed with. */
  CREDIT_DECIMALS?: string;
}
