import { createApp } from "./app";
import type { Env } from "./env";
import { handleQueue } from "./queue";

export { AccountLedger } from "../durable-objects/account-ledger";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env) => handleQueue(batch, env),
} satisfies ExportedHandler<Env>;
