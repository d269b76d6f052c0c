// What the `deliveries` Queue carries: which event goes to which endpoint. The body to POST is in D1
// (webhook_deliveries.payload), so a message is small and every attempt sends the same bytes.
import { z } from "zod";

export const DeliveryMessage = z.object({ v: z.literal(1), endpoint_id: z.string().min(1), event_id: z.string().min(1) });
export type DeliveryMessage = z.infer<typeof DeliveryMessage>;

export const deliveryMessage = (endpointId: string, eventId: string): DeliveryMessage => ({ v: 1, endpoint_id: endpointId, event_id: eventId });
