// Types for the test runtime: `env` from cloudflare:test and `exports` from cloudflare:workers.
declare namespace Cloudflare {
  interface Env {
    DB: D1Database;
    LEDGER: DurableObjectNamespace<import("../durable-objects/account-ledger").AccountLedger>;
    ADMIN_API_KEY: string;
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    MIGRATION_TEST_DB: D1Database;
  }
  interface GlobalProps {
    mainModule: typeof import("../workers/index");
    durableNamespaces: "AccountLedger";
  }
}
