import { applyD1Migrations, env } from "cloudflare:test";
import { vi } from "vitest";

// Runs before each test file; applying is idempotent, and storage is isolated per file.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Vitest's default 5 s per test is a timing assertion in disguise: on a loaded machine the whole
// suite runs several times slower (30 sequential debits, 200 concurrent ones or 500 property runs
// then take well over 5 s) and correct tests fail as "timed out". The timeout is only there to stop
// a hung test; flush() gives up on its own after FLUSH_DEADLINE_MS with a clearer message.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });
