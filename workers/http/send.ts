import type { WireReply } from "../../durable-objects/reply";

/**
 * Sends an object's answer as the HTTP response, with the headers API.md promises. The body is the
 * object's own serialization, sent as is. Typed `never` so a route may return it whatever the
 * response schema it documents: the schema describes this body, it cannot check it.
 */
export function send(reply: WireReply): never {
  const headers = new Headers({ "content-type": "application/json" });
  if (reply.replayed) headers.set("Idempotent-Replayed", "true");
  if (reply.cost !== null) headers.set("Credits-Cost", String(reply.cost));
  if (reply.balance !== null) headers.set("Credits-Balance", String(reply.balance));
  return new Response(reply.json, { status: reply.status, headers }) as never;
}
