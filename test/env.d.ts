// Types for the test runtime: `env` from cloudflare:test and `exports` from cloudflare:workers.
declare namespace Cloudflare {
  interface Env {
    DB: D1Database;
    LEDGER: DurableObjectNamespace<import("../durable-objects/account-ledger").AccountLedger>;
    ADMIN_API_KEY: string;
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    MIGRATION_TEST_DB: D1Database;
    HISTORY: Queue<import("../workers/queue/history-message").HistoryMessage>;
    DELIVERIES: Queue<import("../workers/webhooks/delivery-message").DeliveryMessage>;
    HISTORY_1: D1Database;
    HISTORY_2: D1Database;
    HISTORY_SHARDS: string;
    STRIPE_API_BASE: string;
    STRIPE_SECRET_KEY: string;
  }
  interface GlobalProps {
    mainModule: typeof import("../workers/index");
    durableNamespaces: "AccountLedger";
  }
}

// @cloudflare/vitest-pool-workers 0.15 types `runInDurableObject` only for objects whose Env is
// Cloudflare.Env; AccountLedger's is the app's own. This is the overload its successor declares.
declare module "cloudflare:test" {
  export function runInDurableObject<O, R>(
    stub: DurableObjectStub,
    callback: (instance: O, state: DurableObjectState) => R | Promise<R>,
  ): Promise<R>;
}
