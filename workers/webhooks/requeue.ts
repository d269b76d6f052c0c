// The cron's backstop for deliveries: a pending delivery whose message is long overdue (the fan-out
// wrote its row and failed before sending, or the Queue lost it) is queued again. Sending twice is
// harmless: delivery is at least once, and the consumer skips what is no longer pending.
import type { Env } from "../env";
import { deliveryMessage } from "./delivery-message";

/** A message is counted lost when its delivery is this late. */
export const OVERDUE_MS = 15 * 60_000;
const MAX_PER_RUN = 500;

export async function requeueOverdueDeliveries(env: Env, now: number): Promise<number> {
  const rows = (
    await env.DB.prepare(
      `UPDATE webhook_deliveries SET next_attempt_at = ?2, updated_at = ?2
       WHERE rowid IN (SELECT rowid FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < ?1 ORDER BY next_attempt_at LIMIT ?3)
       RETURNING endpoint_id, event_id`,
    )
      .bind(now - OVERDUE_MS, now, MAX_PER_RUN)
      .all<{ endpoint_id: string; event_id: string }>()
  ).results;
  for (let i = 0; i < rows.length; i += 100) {
    await env.DELIVERIES.sendBatch(rows.slice(i, i + 100).map((r) => ({ body: deliveryMessage(r.endpoint_id, r.event_id) })));
  }
  if (rows.length) console.warn(`deliveries: queued ${rows.length} overdue delivery(ies) again`);
  return rows.length;
}
