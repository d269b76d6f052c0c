// A webhook receiver: checks each delivery's Credence-Signature against the raw body, handles each
// event once (deliveries are at least once), and logs it.
//
//   CREDENCE_API_KEY=cr_admin_… npx tsx examples/webhook-receiver.ts
//
// With CREDENCE_WEBHOOK_SECRET it uses an endpoint you registered already; without, it registers
// itself (an admin key) for every event type and disables that endpoint again on Ctrl-C. Credence
// accepts http://127.0.0.1 endpoints only when it runs with ENVIRONMENT=development (`npm run dev`).
import { createServer } from "node:http";
import { Credence, verifyCredenceSignature } from "@credence/client";

interface CredenceEvent {
  id: string;
  type: string;
  created_at: string;
  account_id: string;
  data: Record<string, unknown>;
}

const credence = new Credence({
  baseUrl: process.env.CREDENCE_URL ?? "http://127.0.0.1:8787",
  apiKey: process.env.CREDENCE_API_KEY ?? "",
});
const port = Number(process.env.PORT ?? 9077);
const url = process.env.WEBHOOK_URL ?? `http://127.0.0.1:${port}/credence-webhooks`;
let secret = process.env.CREDENCE_WEBHOOK_SECRET ?? "";

// Event ids already handled. In production, a table with a unique key on the id.
const handled = new Set<string>();

const server = createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/credence-webhooks") return void res.writeHead(404).end();
  // Verify the bytes as they arrived, before any JSON parsing.
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  if (!(await verifyCredenceSignature(raw, req.headers["credence-signature"], secret))) {
    console.log("Rejected a delivery: bad signature");
    return void res.writeHead(400).end("bad signature");
  }
  const event = JSON.parse(raw.toString("utf8")) as CredenceEvent;
  if (handled.has(event.id)) {
    console.log(`Duplicate ${event.id} (${event.type}): already handled`);
  } else {
    handled.add(event.id);
    console.log(`Verified ${event.type} ${event.id} for ${event.account_id}: ${JSON.stringify(event.data)}`);
  }
  // Any 2xx within 10 s counts as delivered; anything else is retried.
  res.writeHead(204).end();
});
await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));

let registered: string | undefined;
if (!secret) {
  const endpoint = await credence.webhookEndpoints.create({ url, events: ["*"], description: "examples/webhook-receiver.ts" });
  secret = endpoint.secret; // shown only in this answer: keep it with your other secrets
  registered = endpoint.id;
}
console.log(`Listening on ${url}${registered ? ` (registered as ${registered})` : ""}`);

const stop = async () => {
  server.close();
  if (registered) await credence.webhookEndpoints.disable(registered).catch(() => undefined);
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
