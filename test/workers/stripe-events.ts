// Signed Stripe events for tests: the same signature Stripe sends, made with the test secret.
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import Stripe from "stripe";

export const WEBHOOK_SECRET = (env as unknown as { STRIPE_WEBHOOK_SECRET: string }).STRIPE_WEBHOOK_SECRET;
const crypto = Stripe.createSubtleCryptoProvider();
let counter = 0;

export function event(type: string, object: Record<string, unknown>, id = `evt_test_${Date.now()}_${++counter}`) {
  return { id, object: "event", type, api_version: Stripe.API_VERSION, created: Math.floor(Date.now() / 1000), data: { object }, livemode: false };
}

export function session(id: string, accountId: string, over: Record<string, unknown> = {}) {
  return {
    id,
    object: "checkout.session",
    client_reference_id: accountId,
    metadata: { account_id: accountId, package_id: "starter", credits: "1000" },
    amount_total: 500,
    currency: "usd",
    payment_intent: `pi_${id}`,
    customer: "cus_test",
    payment_status: "paid",
    status: "complete",
    ...over,
  };
}

export const charge = (paymentIntent: string, amount: number, amountRefunded: number) => ({
  id: `ch_${paymentIntent}`,
  object: "charge",
  payment_intent: paymentIntent,
  amount,
  amount_refunded: amountRefunded,
  refunded: amountRefunded >= amount,
});

export const dispute = (id: string, paymentIntent: string, amount: number, status = "needs_response") => ({
  id,
  object: "dispute",
  payment_intent: paymentIntent,
  amount,
  status,
});

/** POSTs an event to the webhook, signed as Stripe would (or as told: another secret, an old timestamp). */
export async function deliver(
  evt: unknown,
  options: { secret?: string; timestamp?: number; tamper?: (raw: string) => string; header?: string | null; via?: (request: Request) => Promise<Response> } = {},
) {
  const payload = JSON.stringify(evt);
  const signature = await Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: options.secret ?? WEBHOOK_SECRET,
    ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
    cryptoProvider: crypto,
  });
  const headers: Record<string, string> = { "content-type": "application/json" };
  const header = options.header === undefined ? signature : options.header;
  if (header !== null) headers["stripe-signature"] = header;
  const request = new Request("https://credence.test/stripe/webhook", { method: "POST", headers, body: options.tamper ? options.tamper(payload) : payload });
  const res = await (options.via ?? ((r: Request) => exports.default.fetch(r)))(request);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
