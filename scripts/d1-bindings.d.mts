// Types for d1-bindings.mjs, so TypeScript callers (test/browser/harness.ts) can import it.
/** The D1 bindings wrangler.toml (under `root`) declares, in file order. */
export function d1Bindings(root: string): string[];
