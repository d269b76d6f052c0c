import type { AccountLedger } from "../durable-objects/account-ledger";
import type { HistoryMessage } from "./queue/history-message";
import type { DeliveryMessage } from "./webhooks/delivery-message";

/** The bindings and variables the Worker and the object receive (see wrangler.toml and .dev.vars). */
export interface Env {
  LEDGER: DurableObjectNamespace<AccountLedger>;
  /** The main database: directory, keys, prices, packages, purchases, Stripe (and history when it is a shard). */
  DB: D1Database;
  /** Where the objects send their history; its consumer writes the shards (workers/queue/). */
  HISTORY: Queue<HistoryMessage>;
  /** Outgoing webhook deliveries, one message per (endpoint, event); consumed by workers/webhooks/deliver.ts. */
  DELIVERIES: Queue<DeliveryMessage>;
  /** The first retry delay of a failed delivery, doubled per attempt up to 4 h (default 30; tests set 0). */
  DELIVERY_RETRY_BASE_SECONDS?: string;
  /** Signs the hosted page's session cookies (`wrangler secret put SESSION_SECRET`; npm run dev writes one). */
  SESSION_SECRET?: string;
  /** The hosted page's branding: product name, accent colour (#rrggbb), logo URL (https), support link. */
  PORTAL_PRODUCT_NAME?: string;
  PORTAL_ACCENT_COLOR?: string;
  PORTAL_LOGO_URL?: string;
  PORTAL_SUPPORT_URL?: string;
  /** The D1 bindings that hold history, comma-separated (default `DB`); see workers/db/shards.ts. */
  HISTORY_SHARDS?: string;
  /** The first retry delay of a history batch D1 refused, doubled per attempt (default 2; tests set 0). */
  HISTORY_RETRY_BASE_SECONDS?: string;
  /** Counts failed authentications per client IP (wrangler.toml [[ratelimits]]); absent = not limited. */
  AUTH_FAILURES?: RateLimit;
  /** The bootstrap admin key; set with `wrangler secret put ADMIN_API_KEY`. */
  ADMIN_API_KEY?: string;
  /** How far past its hold a capture may charge, in percent of the hold (default 100; 0 forbids overrun). */
  CAPTURE_OVERRUN_MAX_PERCENT?: string;
  /** Days purchased credits last (default 365; 0 = they never expire). */
  PURCHASE_EXPIRY_DAYS?: string;
  /** How many decimals the smallest credit unit is displayed with. */
  CREDIT_DECIMALS?: string;
  /** Stripe's secret API key (`wrangler secret put STRIPE_SECRET_KEY`); unset = payments not configured. */
  STRIPE_SECRET_KEY?: string;
  /** The signing secret of the Stripe webhook endpoint (`whsec_…`, `wrangler secret put STRIPE_WEBHOOK_SECRET`). */
  STRIPE_WEBHOOK_SECRET?: string;
  /** Another Stripe API to talk to, e.g. `http://127.0.0.1:12111` (a fake in tests); unset in production. */
  STRIPE_API_BASE?: string;
  /** The cron (workers/cron/): see workers/cron/settings.ts and README, "Cron: expiry, allowances, reconciliation". */
  SWEEP_BUDGET_SECONDS?: string;
  SWEEP_MAX_ACCOUNTS?: string;
  SWEEP_CONCURRENCY?: string;
  RECONCILE_CRON?: string;
  RECONCILE_SAMPLE?: string;
  RECONCILE_MAX_ACCOUNTS?: string;
  PAYMENT_RECOVERY_GRACE_SECONDS?: string;
  PAYMENT_RECOVERY_MAX_OBJECTS?: string;
  PAYMENT_RECOVERY_MAX_QUERIES?: string;
  /** `development` on a laptop (`npm run dev` sets it in .dev.vars); unset in deployments. */
  ENVIRONMENT?: string;
}
