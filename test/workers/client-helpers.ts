// The typed client pointed at this runtime's Worker, for the client's own tests.
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { Credence, type CredenceOptions, type FetchLike } from "../../client/src/index";

/** The real Worker, in this runtime, as the client's fetch. */
export const worker: FetchLike = (input, init) => exports.default.fetch(new Request(input, init));

/** An admin client of the real Worker with short backoff steps; options override. */
export const adminClient = (options: Partial<CredenceOptions> = {}) =>
  new Credence({ apiKey: env.ADMIN_API_KEY as string, baseUrl: "https://credence.test", fetch: worker, retryBaseMs: 5, ...options });

let n = 0;
/** A fresh account granted `credits` (none when 0). */
export async function openedAccount(client: Credence, prefix: string, credits: number): Promise<string> {
  const id = `${prefix}-${Date.now().toString(36)}-${++n}`;
  await client.accounts.upsert(id, {});
  if (credits > 0) await client.grants.create(id, { amount: credits });
  return id;
}
