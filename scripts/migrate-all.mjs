#!/usr/bin/env node
// `node scripts/migrate-all.mjs --remote` (or --local): applies the D1 migrations to every database in
// wrangler.toml, the main one and each history shard, stopping at the first failure.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { d1Bindings } from "./d1-bindings.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const where = process.argv[2];
if (where !== "--remote" && where !== "--local") {
  process.stderr.write("usage: node scripts/migrate-all.mjs --remote|--local\n");
  process.exit(2);
}
const wrangler = createRequire(join(ROOT, "package.json")).resolve("wrangler/bin/wrangler.js");
for (const binding of d1Bindings(ROOT)) {
  process.stdout.write(`applying D1 migrations to ${binding} (${where.slice(2)})\n`);
  const r = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", binding, where], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
