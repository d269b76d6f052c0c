// POST /v1/accounts/{id}/portal-sessions: a one-time link to the hosted page for one account, valid
// one hour (workers/portal/).
import { z } from "@hono/zod-openapi";
import { requireScope } from "../http/auth";
import { ApiError } from "../http/errors";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { send } from "../http/send";
import { createLink, sessionSecret } from "../portal/session";
import { ledgerOf } from "./ledger";
import { AccountIdParam, errors, jsonBody, jsonResponse } from "./schemas";

const PortalSessionBody = z
  .object({
    return_url: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
      .max(2000)
      .optional()
      .openapi({ description: "Where the page's \"Back\" link (and an expired link's page) sends the user" }),
  })
  .strict()
  .openapi("PortalSessionRequest");

const PortalSession = z
  .object({ url: z.string().openapi({ description: "Open once, within the hour; it signs the user in for 12 hours at most" }), expires_at: z.string() })
  .openapi("PortalSession");

export const portalSessions = newRouter();

serve(portalSessions, {
  method: "post",
  path: "/v1/accounts/{id}/portal-sessions",
  summary: "A one-time link to the hosted top-up page for this account, valid one hour",
  middleware: [requireScope("write")] as const,
  request: { params: AccountIdParam, body: jsonBody(PortalSessionBody) },
  responses: { 201: jsonResponse(PortalSession, "The link"), ...errors(400, 401, 403, 404, 503) },
}, async (c, { params, body }) => {
  if (!sessionSecret(c.env)) {
    throw new ApiError(503, "portal_not_configured", "The hosted page needs SESSION_SECRET (at least 16 characters): `wrangler secret put SESSION_SECRET`.");
  }
  const account = await ledgerOf(c.env, params.id).view();
  if (account.status !== 200) return send(account);
  const link = await createLink(c.env.DB, params.id, body.return_url ?? null, Date.now());
  const origin = new URL(c.req.url).origin;
  return c.json({ url: `${origin}/portal/enter?token=${link.token}`, expires_at: new Date(link.expiresAt).toISOString() }, 201);
});
