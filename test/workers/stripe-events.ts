// Signed Stripe events for tests: the same signature Stripe sends, made with the test secret.
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import Stripe from "stripe";

export const WEBHOOK_SECRET = (env as unknown as { STRIPE_WEBHOOK_SECRET: string }).STRIPE_WEBHOOK_SECRET;
const crypto = Stripe.createSubtleCryptoProvider();
let counter = 0;

/** A Stripe event; `created` (Unix seconds, default now) is when Stripe says it happened. */
export function event(type: string, object: Record<string, unknown>, id = `evt_test_${Date.now()}_${++counter}`, created = Math.floor(Date.now() / 1000)) {
  return { id, object: "event", type, api_version: Stripe.API_VERSION, created, data: { object }, livemode: false };
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

/**
 * Records the pending purchase a checkout here would have recorded for `s` (the webhook credits only
 * sessions this deployment sold), and returns the session.
 */
export async function sold<S extends { id: string; client_reference_id: string; amount_total: number; currency: string; metadata: { package_id: string; credits: string } }>(s: S): Promise<S> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO purchases (id, account_id, package_id, credits, amount, currency, status, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7) ON CONFLICT (id) DO NOTHING`,
  )
    .bind(s.id, s.client_reference_id, s.metadata.package_id, Number(s.metadata.credits), s.amount_total, s.currency, now)
    .run();
  return s;
}
