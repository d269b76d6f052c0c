// Receivers for outgoing webhooks: test endpoints behind the fetch the delivery consumer is given, so
// deliveries never leave the runtime. Each receiver records what it got and answers as told.
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { setDeliveryFetch } from "../../workers/webhooks/deliver";
import { api, eventually } from "./helpers";

export interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
  event: { id: string; type: string; created_at: string; account_id: string; data: Record<string, unknown> };
}

type Answer = (request: Received, count: number) => Promise<number> | number;

const receivers = new Map<string, { answer: Answer; received: Received[] }>();

setDeliveryFetch(async (url, init) => {
  const receiver = receivers.get(url);
  if (!receiver) return new Response("no such receiver", { status: 404 });
  const body = String(init.body);
  const request: Received = { url, headers: Object.fromEntries(new Headers(init.headers).entries()), body, event: JSON.parse(body) };
  receiver.received.push(request);
  return new Response(null, { status: await receiver.answer(request, receiver.received.length) });
});

let counter = 0;

/** A receiver at a fresh https URL: answers 204 unless told otherwise. */
export function receiver(answer: Answer = () => 204) {
  const url = `https://receiver-${++counter}-${Date.now()}.test/hooks`;
  const entry = { answer, received: [] as Received[] };
  receivers.set(url, entry);
  return { url, received: () => entry.received };
}

export async function createEndpoint(url: string, events: string[] = ["*"]) {
  const res = await api("POST", "/v1/webhook-endpoints", { body: { url, events } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string; url: string; events: string[] };
}

export interface DeliveryRow {
  event_id: string;
  type: string;
  account_id: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  first_attempt_at: number | null;
}

export async function deliveriesOf(endpointId: string): Promise<DeliveryRow[]> {
  const rows = await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE endpoint_id = ? ORDER BY event_created_at, event_id").bind(endpointId).all<DeliveryRow>();
  return rows.results;
}

/** Waits until the endpoint's deliveries satisfy `done` (the Queue consumes on its own schedule). */
export const deliveriesUntil = (endpointId: string, done: (rows: DeliveryRow[]) => boolean) => eventually(() => deliveriesOf(endpointId), done);
