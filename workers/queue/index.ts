// queue(): one handler for every Queue this Worker consumes, told apart by the queue's name
// (wrangler.toml).

import type { Env } from "../env";
import { recordDeadLetters } from "./dead-letters";
import { consumeDeliveries } from "../webhooks/deliver";
import { consumeHistory } from "./history-consumer";

export const HISTORY_QUEUE = "credence-history";
export const HISTORY_DEAD_LETTER_QUEUE = "credence-history-dlq";
export const DELIVERIES_QUEUE = "credence-deliveries";

export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  switch (batch.queue) {
    case HISTORY_QUEUE:
      await consumeHistory(batch, env);
      return;
    case HISTORY_DEAD_LETTER_QUEUE:
      await recordDeadLetters(batch, env);
      return;
    case DELIVERIES_QUEUE:
      await consumeDeliveries(batch, env);
      return;
    default:
      // A queue bound by mistake: retrying keeps its messages until the binding is fixed.
      throw new Error(`queue(): no consumer for queue '${batch.queue}'`);
  }
}
