// The D1 bindings wrangler.toml declares: the main database (DB) and any history shards. Every one of
// them gets the same migrations (workers/db/schema.ts says why).
import { readFileSync } from "node:fs";
import { join } from "node:path";

export function d1Bindings(root) {
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  const blocks = toml.split(/^\[\[d1_databases\]\]\s*$/m).slice(1);
  // A block ends where the next table header starts.
  return blocks.map((block) => /^binding\s*=\s*"([^"]+)"/m.exec(block.split(/^\[/m)[0])?.[1]).filter(Boolean);
}
