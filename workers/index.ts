import { createApp } from "./app";
import { handleScheduled } from "./cron";
import type { Env } from "./env";
import { handleQueue } from "./queue";

export { AccountLedger } from "../durable-objects/account-ledger";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env) => handleQueue(batch, env),
  scheduled: async (controller, env) => {
    await handleScheduled(controller, env);
  },
} satisfies ExportedHandler<Env>;
