// Outgoing webhook endpoints (admin): create (the secret is shown once), list, disable, rotate the
// secret, read the delivery log, and re-send a delivery by hand. The delivery itself is
// workers/webhooks/.
import { z } from "@hono/zod-openapi";
import type { Env } from "../env";
import { requireScope } from "../http/auth";
import { ApiError } from "../http/errors";
import { serve } from "../http/route";
import { newRouter } from "../http/router";
import { deliveryMessage } from "../webhooks/delivery-message";
import { createEndpoint, disableEndpoint, endpointById, EVENT_TYPES, listEndpoints, rotateSecret, subscriptions, type EndpointRow } from "../webhooks/endpoints";
import { errors, jsonBody, jsonResponse } from "./schemas";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const isoTime = z.string().openapi({ format: "date-time" });
const Subscription = z.enum([...EVENT_TYPES, "*"]);

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** https:// anywhere; http://localhost or 127.0.0.1 only in development (a receiver on the laptop). */
function checkUrl(env: Env, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError(400, "invalid_request", "url is not a URL.", { field: "url" });
  }
  if (url.username || url.password) throw new ApiError(400, "invalid_request", "url must not carry credentials.", { field: "url" });
  if (url.protocol === "https:") return url.toString();
  if (url.protocol === "http:" && LOCAL_HOSTS.has(url.hostname) && env.ENVIRONMENT === "development") return url.toString();
  throw new ApiError(400, "invalid_request", "url must be https:// (http://localhost and http://127.0.0.1 are allowed in development only).", { field: "url" });
}

const EndpointBody = z
  .object({
    url: z.string().min(1).max(2048),
    events: z.array(Subscription).min(1).max(EVENT_TYPES.length + 1).openapi({ description: 'Event types to receive, or ["*"] for all' }),
    description: z.string().max(500).optional(),
  })
  .strict()
  .openapi("WebhookEndpointInput");

const Endpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(Subscription),
    description: z.string().nullable(),
    status: z.enum(["active", "disabled"]),
    disabled_reason: z.string().nullable(),
    disabled_at: isoTime.nullable(),
    failing_since: isoTime.nullable().openapi({ description: "Every delivery has failed since then; after 3 days the endpoint is disabled" }),
    last_success_at: isoTime.nullable(),
    previous_secret_expires_at: isoTime.nullable().openapi({ description: "While a rotation lasts, deliveries are signed with both secrets until then" }),
    created_at: isoTime,
  })
  .openapi("WebhookEndpoint");

function view(row: EndpointRow, now = Date.now()) {
  return {
    id: row.id,
    url: row.url,
    events: subscriptions(row),
    description: row.description,
    status: row.status,
    disabled_reason: row.disabled_reason,
    disabled_at: iso(row.disabled_at),
    failing_since: iso(row.failing_since),
    last_success_at: iso(row.last_success_at),
    previous_secret_expires_at: row.previous_secret && (row.previous_secret_expires_at ?? 0) > now ? iso(row.previous_secret_expires_at) : null,
    created_at: iso(row.created_at) as string,
  };
}

const EndpointIdParam = z.object({ id: z.string().regex(/^we_[a-z0-9]{16,32}$/, "is not a webhook endpoint id").openapi({ param: { name: "id", in: "path" } }) });

async function found(env: Env, id: string): Promise<EndpointRow> {
  const row = await endpointById(env.DB, id);
  if (!row) throw new ApiError(404, "webhook_endpoint_not_found", `No webhook endpoint ${id}.`);
  return row;
}

export const webhookEndpoints = newRouter();

serve(webhookEndpoints, {
  method: "post",
  path: "/v1/webhook-endpoints",
  summary: "Create a webhook endpoint (admin); its whsec_ signing secret is shown this once",
  middleware: [requireScope("admin")] as const,
  request: { body: jsonBody(EndpointBody) },
  responses: { 201: jsonResponse(Endpoint.extend({ secret: z.string() }), "Created"), ...errors(400, 401, 403) },
}, async (c, { body }) => {
  const url = checkUrl(c.env, body.url);
  const row = await createEndpoint(c.env.DB, { url, events: body.events, description: body.description ?? null }, Date.now());
  return c.json({ ...view(row), secret: row.secret }, 201);
});

serve(webhookEndpoints, {
  method: "get",
  path: "/v1/webhook-endpoints",
  summary: "List webhook endpoints (admin), newest first, never with their secrets",
  middleware: [requireScope("admin")] as const,
  responses: { 200: jsonResponse(z.object({ data: z.array(Endpoint) }), "Endpoints"), ...errors(401, 403) },
}, async (c) => c.json({ data: (await listEndpoints(c.env.DB)).map((row) => view(row)) }, 200));

serve(webhookEndpoints, {
  method: "delete",
  path: "/v1/webhook-endpoints/{id}",
  summary: "Disable a webhook endpoint (admin): nothing more is sent to it; its delivery log stays",
  middleware: [requireScope("admin")] as const,
  request: { params: EndpointIdParam },
  responses: { 200: jsonResponse(Endpoint, "Disabled"), ...errors(401, 403, 404) },
}, async (c, { params }) => {
  await found(c.env, params.id);
  return c.json(view((await disableEndpoint(c.env.DB, params.id, "disabled by an admin", Date.now())) as EndpointRow), 200);
});

serve(webhookEndpoints, {
  method: "post",
  path: "/v1/webhook-endpoints/{id}/rotate-secret",
  summary: "A new signing secret (admin), shown this once; the old one keeps signing for 24 hours",
  middleware: [requireScope("admin")] as const,
  request: { params: EndpointIdParam },
  responses: { 200: jsonResponse(Endpoint.extend({ secret: z.string() }), "Rotated"), ...errors(401, 403, 404) },
}, async (c, { params }) => {
  await found(c.env, params.id);
  const row = (await rotateSecret(c.env.DB, params.id, Date.now())) as EndpointRow;
  return c.json({ ...view(row), secret: row.secret }, 200);
});

const Delivery = z
  .object({
    event_id: z.string(),
    type: z.string(),
    account_id: z.string(),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: isoTime.nullable(),
    delivered_at: isoTime.nullable(),
    event_created_at: isoTime,
  })
  .openapi("WebhookDelivery");

interface DeliveryRow {
  event_id: string;
  type: string;
  account_id: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: number | null;
  delivered_at: number | null;
  event_created_at: number;
}

const deliveryView = (r: DeliveryRow) => ({
  event_id: r.event_id,
  type: r.type,
  account_id: r.account_id,
  status: r.status,
  attempts: r.attempts,
  last_status_code: r.last_status_code,
  last_error: r.last_error,
  next_attempt_at: r.status === "pending" ? iso(r.next_attempt_at) : null,
  delivered_at: iso(r.delivered_at),
  event_created_at: iso(r.event_created_at) as string,
});

const DELIVERY_COLUMNS = "event_id, type, account_id, status, attempts, last_status_code, last_error, next_attempt_at, delivered_at, event_created_at";

const DeliveriesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).optional(),
    cursor: z.string().regex(/^\d{1,16}\.[A-Za-z0-9_.:-]{1,300}$/, "is not a cursor from next_cursor").optional(),
    status: z.enum(["pending", "delivered", "failed"]).optional(),
  })
  .strict();

serve(webhookEndpoints, {
  method: "get",
  path: "/v1/webhook-endpoints/{id}/deliveries",
  summary: "The endpoint's deliveries, newest event first (admin): attempts, status, last answer",
  middleware: [requireScope("admin")] as const,
  request: { params: EndpointIdParam, query: DeliveriesQuery },
  responses: { 200: jsonResponse(z.object({ data: z.array(Delivery), next_cursor: z.string().nullable() }), "Deliveries"), ...errors(400, 401, 403, 404) },
}, async (c, { params, query }) => {
  await found(c.env, params.id);
  const limit = query.limit ?? 25;
  // The cursor is "<event_created_at>.<event_id>" of the last delivery shown.
  const dot = query.cursor?.indexOf(".") ?? -1;
  const [afterAt, afterId] = query.cursor ? [Number(query.cursor.slice(0, dot)), query.cursor.slice(dot + 1)] : [null, null];
  const rows = (
    await c.env.DB.prepare(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
       WHERE endpoint_id = ?1 AND (?2 IS NULL OR (event_created_at, event_id) < (?2, ?3)) AND (?4 IS NULL OR status = ?4)
       ORDER BY event_created_at DESC, event_id DESC LIMIT ?5`,
    )
      .bind(params.id, afterAt, afterId, query.status ?? null, limit + 1)
      .all<DeliveryRow>()
  ).results;
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return c.json({ data: page.map(deliveryView), next_cursor: rows.length > limit && last ? `${last.event_created_at}.${last.event_id}` : null }, 200);
});

const RetryParams = EndpointIdParam.extend({ event_id: z.string().min(1).max(300).openapi({ param: { name: "event_id", in: "path" } }) });

serve(webhookEndpoints, {
  method: "post",
  path: "/v1/webhook-endpoints/{id}/deliveries/{event_id}/retry",
  summary: "Send a delivery again now (admin), whatever its status; it gets a new 3-day window",
  middleware: [requireScope("admin")] as const,
  request: { params: RetryParams },
  responses: { 202: jsonResponse(Delivery, "Queued"), ...errors(401, 403, 404, 409) },
}, async (c, { params }) => {
  const endpoint = await found(c.env, params.id);
  if (endpoint.status !== "active") throw new ApiError(409, "webhook_endpoint_disabled", `Webhook endpoint ${params.id} is disabled: create a new one to receive events again.`);
  const now = Date.now();
  const row = await c.env.DB.prepare(
    `UPDATE webhook_deliveries SET status = 'pending', first_attempt_at = NULL, next_attempt_at = ?3, updated_at = ?3
     WHERE endpoint_id = ?1 AND event_id = ?2 RETURNING ${DELIVERY_COLUMNS}`,
  )
    .bind(params.id, params.event_id, now)
    .first<DeliveryRow>();
  if (!row) throw new ApiError(404, "delivery_not_found", `No delivery of ${params.event_id} to ${params.id}.`);
  await c.env.DELIVERIES.send(deliveryMessage(params.id, params.event_id));
  return c.json(deliveryView(row), 202);
});
