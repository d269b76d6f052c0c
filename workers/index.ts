import { createApp } from "./app";
import type { Env } from "./env";

export { AccountLedger } from "../durable-objects/account-ledger";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
