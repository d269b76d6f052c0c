import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: { TEST_MIGRATIONS: migrations, ADMIN_API_KEY: "test_admin_key_0123456789" },
          // An empty database for tests that replay the D1 migrations one by one over old data.
          d1Databases: ["MIGRATION_TEST_DB"],
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/workers/apply-migrations.ts"],
      // Vitest's default 5 s per test is a timing assertion in disguise: on a loaded machine the suite
      // runs several times slower (200 concurrent debits or 500 property runs then take well over 5 s)
      // and correct tests fail as "timed out". The limit is only there to stop a hung test; flush()
      // gives up on its own after FLUSH_DEADLINE_MS with a clearer message.
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
});
