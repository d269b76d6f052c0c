// Fan-out: the history consumer hands over the events it has just written to D1, and each one that an
// active endpoint subscribes to becomes a delivery row and a message on the `deliveries` Queue. Events
// come only from the objects' outboxes, so an event is never lost and never sent for a change that
// rolled back. A history message delivered again fans out again: the delivery rows are keyed by
// (endpoint, event), and only rows never attempted are sent again.
import { eventId } from "../../durable-objects/ids";
import type { Env } from "../env";
import type { EventRow } from "../queue/history-message";
import { deliveryMessage, type DeliveryMessage } from "./delivery-message";
import { activeEndpoints, subscribesTo } from "./endpoints";

export interface AccountEvents {
  accountId: string;
  events: EventRow[];
}

/** The body every endpoint receives for an event (API.md): `{id, type, created_at, account_id, data}`. */
export function eventBody(accountId: string, [seq, type, data, createdAt]: EventRow): string {
  return JSON.stringify({ id: eventId(accountId, seq), type, created_at: new Date(createdAt).toISOString(), account_id: accountId, data: JSON.parse(data) });
}

const SEND_BATCH = 100;

/** Returns how many deliveries it queued; throws when D1 or the Queue refused (the caller retries). */
export async function fanOut(env: Env, items: AccountEvents[], now: number): Promise<number> {
  if (!items.some((item) => item.events.length > 0)) return 0;
  const endpoints = await activeEndpoints(env.DB);
  if (endpoints.length === 0) return 0;
  const statements: D1PreparedStatement[] = [];
  for (const { accountId, events } of items) {
    for (const event of events) {
      const [seq, type, , createdAt] = event;
      const targets = endpoints.filter((e) => subscribesTo(e, type));
      if (targets.length === 0) continue;
      const payload = eventBody(accountId, event);
      for (const endpoint of targets) {
        statements.push(
          env.DB.prepare(
            `INSERT INTO webhook_deliveries (endpoint_id, event_id, account_id, type, payload, status, next_attempt_at, event_created_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?7, ?6, ?7, ?7)
             ON CONFLICT (endpoint_id, event_id) DO UPDATE SET updated_at = webhook_deliveries.updated_at
             WHERE webhook_deliveries.status = 'pending' AND webhook_deliveries.attempts = 0
             RETURNING endpoint_id, event_id`,
          ).bind(endpoint.id, eventId(accountId, seq), accountId, type, payload, createdAt, now),
        );
      }
    }
  }
  if (statements.length === 0) return 0;
  const results = await env.DB.batch<{ endpoint_id: string; event_id: string }>(statements);
  const messages: MessageSendRequest<DeliveryMessage>[] = results.flatMap((r) => r.results.map((row) => ({ body: deliveryMessage(row.endpoint_id, row.event_id) })));
  for (let i = 0; i < messages.length; i += SEND_BATCH) await env.DELIVERIES.sendBatch(messages.slice(i, i + SEND_BATCH));
  return messages.length;
}
