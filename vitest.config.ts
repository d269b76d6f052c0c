import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig, type Plugin } from "vitest/config";

declare module "vitest" {
  interface ProvidedContext {
    /** The fake Stripe API's address, e.g. http://127.0.0.1:41234 (test/fake-stripe/global-setup.mjs). */
    stripeApiBase: string;
  }
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      // `vitest run` runs them all; `vitest run --project workers` (or browser, or examples) runs one.
      projects: [
        {
          // The unit and Workers tests, inside the Workers runtime (workerd) with the app's bindings.
          plugins: [
            quietStripeSourceMaps(),
            // A function, so that it runs after globalSetup has started the fake Stripe API and can bind
            // its address (the config's own async function runs before globalSetup).
            cloudflareTest(({ inject }) => ({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_API_KEY: "test_admin_key_0123456789",
                  // Not development, whatever `npm run dev` wrote to .dev.vars (which wrangler reads here
                  // too): the tests that want the local test checkout say so themselves.
                  ENVIRONMENT: "test",
                  // Signs the hosted page's session cookies.
                  SESSION_SECRET: "test_session_secret_0123456789",
                  // The Worker's Stripe client talks to the fake Stripe API (test/fake-stripe).
                  STRIPE_API_BASE: inject("stripeApiBase"),
                  STRIPE_SECRET_KEY: "sk_test_fake",
                  STRIPE_WEBHOOK_SECRET: "whsec_test_0123456789",
                  // History is sharded over two databases, neither of them the main one, so a read or write
                  // that goes to the wrong database shows.
                  HISTORY_SHARDS: "HISTORY_1,HISTORY_2",
                  // A batch D1 refused is retried at once: tests follow it through every retry to the DLQ.
                  HISTORY_RETRY_BASE_SECONDS: "0",
                  // A failed webhook delivery is retried at once, so tests see a receiver recover.
                  DELIVERY_RETRY_BASE_SECONDS: "0",
                },
                // The history shards, and an empty database for tests that replay the D1 migrations one by
                // one over old data.
                d1Databases: ["HISTORY_1", "HISTORY_2", "MIGRATION_TEST_DB"],
              },
            })),
          ],
          test: {
            name: "workers",
            include: ["test/unit/**/*.test.ts", "test/workers/**/*.test.ts"],
            // Starts the fake Stripe API once for the whole run (in Node, outside the Workers runtime).
            globalSetup: ["./test/fake-stripe/global-setup.mjs"],
            setupFiles: ["./test/workers/apply-migrations.ts"],
            // Vitest's default 5 s per test is a timing assertion in disguise: on a loaded machine the suite
            // runs several times slower (200 concurrent debits or 500 property runs then take well over 5 s)
            // and correct tests fail as "timed out". The limit is only there to stop a hung test; flush()
            // gives up on its own after FLUSH_DEADLINE_MS with a clearer message.
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
        {
          // Real browser tests (test/browser/harness.ts): plain Node drives `wrangler dev` and a headless
          // Chromium. No Workers pool here.
          test: {
            name: "browser",
            environment: "node",
            include: ["test/browser/**/*.test.ts"],
            // Each file starts its own wrangler dev (tens of seconds on a small machine) and Chromium.
            testTimeout: 180_000,
            hookTimeout: 180_000,
            // One file at a time, and only after the workers project has finished (groupOrder 1 runs
            // after 0): a wrangler dev and a Chromium beside the Workers pool would starve both on a
            // 2-core CI machine and turn slowness into timeouts.
            fileParallelism: false,
            sequence: { groupOrder: 1 },
          },
        },
        {
          // examples/ run as a user runs them (test/examples): child processes with the built client,
          // against a wrangler dev (the browser harness's startCredence) and the fake model server.
          test: {
            name: "examples",
            environment: "node",
            include: ["test/examples/**/*.test.ts"],
            testTimeout: 180_000,
            hookTimeout: 180_000,
            // Same reasons as the browser project, whose files start wrangler devs too: projects with the same
            // groupOrder run at the same time, so this one has its own group, after the browser tests.
            fileParallelism: false,
            sequence: { groupOrder: 2 },
          },
        },
      ],
    },
  };
});

/**
 * The stripe package ships source maps whose sources it does not ship, and the pool runs every
 * dependency through Vite, which then warns once per file ("points to missing source files"): ~200
 * lines per run. Those warnings, and only those, are dropped.
 */
function quietStripeSourceMaps(): Plugin {
  const noise = /Sourcemap for ".*[\\/]node_modules[\\/]stripe[\\/].*" points to missing source files/;
  return {
    name: "credence:quiet-stripe-source-maps",
    configResolved(config) {
      const warnOnce = config.logger.warnOnce.bind(config.logger);
      config.logger.warnOnce = (message, options) => {
        if (!noise.test(message)) warnOnce(message, options);
      };
    },
  };
}
