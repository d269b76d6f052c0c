import { bodyLimit } from "hono/body-limit";
import { accounts } from "./api/accounts";
import { allowance } from "./api/allowance";
import { autoRecharge } from "./api/auto-recharge";
import { health } from "./api/health";
import { keys } from "./api/api-keys";
import { checkout } from "./api/checkout";
import { controls } from "./api/controls";
import { debits } from "./api/debits";
import { entries } from "./api/entries";
import { grants } from "./api/grants";
import { holds } from "./api/holds";
import { catalogue } from "./api/packages";
import { pricing } from "./api/prices";
import { portalSessions } from "./api/portal-sessions";
import { purchasesRoutes } from "./api/purchases";
import { usage } from "./api/usage";
import { webhookEndpoints } from "./api/webhook-endpoints";
import { docsPage } from "./docs/page";
import { requireKey } from "./http/auth";
import { ApiError, errorBody, handleError } from "./http/errors";
import { newRouter } from "./http/router";
import { checkoutPages } from "./stripe/pages";


export const MAX_BODY_BYTES = 64 * 1024;
/** Stripe's events are a few kilobytes; anything near this is not Stripe, and is refused unread. */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

export function createApp() {
  const app = newRouter();
  app.onError(handleError);
  app.notFound((c) => c.json(errorBody("not_found", `No route ${c.req.method} ${new URL(c.req.url).pathname}.`), 404));

  app.get("/health", (c) => c.json({ ok: true }));
  app.route("/", checkoutPages);
  // Stripe signs its events; no API key, and the body is read raw (not through the /v1 middleware).
  // The Stripe package is loaded on the first request that needs it, never by a debit: the
  // benchmark measured ~10 % more CPU per debit with it loaded in every isolate.
  // Refused past 1 MiB as it streams in, before its signature is computed over it.
  app.use(
    "/stripe/webhook",
    bodyLimit({ maxSize: MAX_WEBHOOK_BODY_BYTES, onError: (c) => c.json(errorBody("payload_too_large", "The request body is larger than 1 MiB."), 413) }),
  );
  app.post("/stripe/webhook", async (c) => (await import("./stripe/webhook")).webhook.fetch(c.req.raw, c.env));
  app.all("/checkout/local/*", async (c) => (await import("./stripe/local-checkout")).localCheckoutPages.fetch(c.req.raw, c.env));
  // The hosted page, loaded on its first request: an isolate that only debits never parses it.
  app.all("/portal", async (c) => (await import("./portal/app")).portal.fetch(c.req.raw, c.env));
  app.all("/portal/*", async (c) => (await import("./portal/app")).portal.fetch(c.req.raw, c.env));

  app.use("/v1/*", bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => { throw new ApiError(413, "payload_too_large", "The request body is larger than 64 KiB."); } }));
  app.use("/v1/*", requireKey);
  app.use("/v1/*", async (c, next) => {
    // A body sent as text/plain would otherwise read as empty and fail with a misleading message.
    const type = c.req.header("content-type");
    const hasBody = c.req.header("content-length") !== undefined && c.req.header("content-length") !== "0";
    if ((c.req.method === "POST" || c.req.method === "PUT") && hasBody && !JSON_TYPE.test(type ?? "")) {
      throw new ApiError(415, "unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.");
    }
    await next();
  });

  for (const router of [accounts, pricing, debits, holds, grants, entries, usage, controls, allowance, autoRecharge, health, keys, catalogue, checkout, purchasesRoutes, webhookEndpoints, portalSessions]) app.route("/", router);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  const info = {
    title: "Credence",
    version: "1.0.0",
    description: "Transparent prepaid credits: quote, hold, capture and debit credits at the edge. Amounts are integers in the smallest credit unit.",
  };
  app.doc31("/openapi.json", { openapi: "3.1.0", info, security: [{ bearer: [] }] });
  app.get("/docs", (c) => c.html(docsPage(app.getOpenAPI31Document({ openapi: "3.1.0", info }) as never)));
  return app;
}
