import { applyD1Migrations, env } from "cloudflare:test";

// Runs before each test file; applying is idempotent, and storage is isolated per file. Every D1
// database of a deployment gets the same migrations: the main one and each history shard.
for (const db of [env.DB, env.HISTORY_1, env.HISTORY_2]) await applyD1Migrations(db, env.TEST_MIGRATIONS);
