// The `deliveries` Queue's consumer: POSTs each event to its endpoint, signed (Credence-Signature),
// with a 10 s timeout; any 2xx is delivered. A failure is retried by the Queue with a growing delay
// for 3 days from its first attempt, then the delivery is `failed`; an endpoint that has failed every
// delivery for 3 days is disabled. Each attempt is recorded on the delivery row (GET …/deliveries).
// Delivery is at least once: a message the Queue brings twice is POSTed again with the same event id.
import type { Env } from "../env";
import { DeliveryMessage } from "./delivery-message";
import { disableEndpoint, signingSecrets, type EndpointRow } from "./endpoints";
import { signatureHeader } from "./signature";

export const TIMEOUT_MS = 10_000;
/** A delivery is retried for this long after its first attempt; an endpoint failing everything this long is disabled. */
export const RETRY_WINDOW_MS = 3 * 24 * 3_600_000;
const MAX_DELAY_SECONDS = 4 * 3600;
/** The Queue's own ceiling (wrangler.toml max_retries + 1): the attempt that reaches it is the last. */
const QUEUE_MAX_ATTEMPTS = 101;

type Fetch = (input: string, init: RequestInit) => Promise<Response>;
let outbound: Fetch = (input, init) => fetch(input, init);

/** Tests route deliveries to their receivers through this; null restores the real fetch. */
export function setDeliveryFetch(f: Fetch | null): void {
  outbound = f ?? ((input, init) => fetch(input, init));
}

interface DeliveryRow {
  endpoint_id: string;
  event_id: string;
  type: string;
  payload: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  first_attempt_at: number | null;
}

export function retryBase(setting: string | undefined): number {
  if (setting === undefined || setting === "") return 30;
  const n = Number(setting);
  if (!Number.isInteger(n) || n < 0 || n > MAX_DELAY_SECONDS) throw new Error(`DELIVERY_RETRY_BASE_SECONDS must be a whole number from 0 to ${MAX_DELAY_SECONDS}, not '${setting}'`);
  return n;
}

/** base, 2·base, 4·base … up to 4 h: 30 s, 1 min, 2 min … then every 4 h. */
export const retryDelaySeconds = (base: number, attempts: number) => Math.min(MAX_DELAY_SECONDS, base * 2 ** Math.max(0, attempts - 1));

/** One POST: the status code, or why there was none. */
async function post(endpoint: EndpointRow, delivery: DeliveryRow, now: number): Promise<{ status: number | null; error: string | null }> {
  const signature = await signatureHeader(delivery.payload, signingSecrets(endpoint, now), Math.floor(now / 1000));
  try {
    const res = await outbound(endpoint.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "Credence-Webhooks/1",
        "credence-signature": signature,
        "credence-event-id": delivery.event_id,
        "credence-event-type": delivery.type,
      },
      body: delivery.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await res.body?.cancel();
    return { status: res.status, error: res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}` };
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    return { status: null, error: name === "TimeoutError" || name === "AbortError" ? `no answer within ${TIMEOUT_MS / 1000} s` : `network error: ${err instanceof Error ? err.message : String(err)}` };
  }
}

type Outcome = { ack: true } | { retryAfter: number };

async function deliverOne(env: Env, message: Message<unknown>, base: number, now: number): Promise<Outcome> {
  const parsed = DeliveryMessage.safeParse(message.body);
  if (!parsed.success) {
    console.error(`deliveries: message ${message.id} is not a delivery`);
    return { ack: true };
  }
  const { endpoint_id, event_id } = parsed.data;
  const [delivery, endpoint] = await Promise.all([
    env.DB.prepare("SELECT endpoint_id, event_id, type, payload, status, attempts, first_attempt_at FROM webhook_deliveries WHERE endpoint_id = ?1 AND event_id = ?2")
      .bind(endpoint_id, event_id)
      .first<DeliveryRow>(),
    env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(endpoint_id).first<EndpointRow>(),
  ]);
  // Delivered or given up already (the Queue brought it twice), or nothing to deliver.
  if (!delivery || !endpoint || delivery.status !== "pending") return { ack: true };
  if (endpoint.status !== "active") {
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled', next_attempt_at = NULL, updated_at = ?3 WHERE endpoint_id = ?1 AND event_id = ?2 AND status = 'pending'")
      .bind(endpoint_id, event_id, now)
      .run();
    return { ack: true };
  }

  const result = await post(endpoint, delivery, now);
  const done = Date.now();
  if (result.error === null) {
    await env.DB.batch([
      env.DB.prepare(
        `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status_code = ?3, last_error = NULL,
           first_attempt_at = coalesce(first_attempt_at, ?4), delivered_at = ?5, next_attempt_at = NULL, updated_at = ?5
         WHERE endpoint_id = ?1 AND event_id = ?2`,
      ).bind(endpoint_id, event_id, result.status, now, done),
      env.DB.prepare("UPDATE webhook_endpoints SET failing_since = NULL, last_success_at = ?2 WHERE id = ?1").bind(endpoint_id, done),
    ]);
    return { ack: true };
  }

  const firstAttempt = delivery.first_attempt_at ?? now;
  const attempts = delivery.attempts + 1;
  const final = now - firstAttempt >= RETRY_WINDOW_MS || message.attempts >= QUEUE_MAX_ATTEMPTS;
  const delay = retryDelaySeconds(base, attempts);
  const [, failing] = await env.DB.batch<{ failing_since: number }>([
    env.DB.prepare(
      `UPDATE webhook_deliveries SET status = ?3, attempts = ?4, last_status_code = ?5, last_error = ?6, first_attempt_at = coalesce(first_attempt_at, ?7),
         next_attempt_at = ?8, updated_at = ?9
       WHERE endpoint_id = ?1 AND event_id = ?2 AND status = 'pending'`,
    ).bind(endpoint_id, event_id, final ? "failed" : "pending", attempts, result.status, result.error, firstAttempt, final ? null : now + delay * 1000, done),
    env.DB.prepare("UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, ?2) WHERE id = ?1 RETURNING failing_since").bind(endpoint_id, now),
  ]);
  const failingSince = failing?.results[0]?.failing_since ?? now;
  if (now - failingSince >= RETRY_WINDOW_MS) {
    // Nothing more goes to it, this delivery included.
    await disableEndpoint(env.DB, endpoint_id, "every delivery failed for 3 days", done);
    await env.DB.prepare("UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL WHERE endpoint_id = ?1 AND event_id = ?2 AND status = 'pending'")
      .bind(endpoint_id, event_id)
      .run();
    console.error(`deliveries: endpoint ${endpoint_id} disabled: every delivery failed for 3 days`);
    return { ack: true };
  }
  return final ? { ack: true } : { retryAfter: delay };
}

export async function consumeDeliveries(batch: MessageBatch<unknown>, env: Env, now = Date.now()): Promise<void> {
  const base = retryBase(env.DELIVERY_RETRY_BASE_SECONDS);
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const outcome = await deliverOne(env, message, base, now);
        if ("ack" in outcome) message.ack();
        else message.retry({ delaySeconds: outcome.retryAfter });
      } catch (err) {
        // D1 refused: the attempt is not recorded; the Queue brings the message back.
        console.error(`deliveries: message ${message.id} not processed`, err);
        message.retry({ delaySeconds: retryDelaySeconds(base, message.attempts) });
      }
    }),
  );
}
