// The local test checkout. On a laptop without Stripe keys (`npm run dev` sets ENVIRONMENT=development
// and a local STRIPE_WEBHOOK_SECRET in .dev.vars), checkout-sessions sends the buyer to this page
// instead of Stripe. Its "Pay" button sends a correctly signed checkout.session.completed to the real
// webhook route, so a purchase runs the same verification and crediting path as one paid on Stripe.
// In any other environment, or once a Stripe key is set, the page does not exist.

import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import Stripe from "stripe";
import { purchases, stripeCustomers } from "../db/schema";
import type { Env } from "../env";
import { hmacHex, sameText, sha256Hex } from "../http/crypto";
import { ApiError, errorBody } from "../http/errors";
import type { AppEnv } from "../http/router";
import { formatMoney } from "../money/currency";
import type { CheckoutSession, Offer } from "./checkout";
import { cryptoProvider } from "./client";
import { webhook } from "./webhook";

export const LOCAL_CHECKOUT_PATH = "/checkout/local";

/** The stand-in Stripe customer of an account on a laptop. */
export const localCustomer = (accountId: string) => `cus_local_${accountId}`;

export function localCheckoutEnabled(env: Pick<Env, "ENVIRONMENT" | "STRIPE_SECRET_KEY">): boolean {
  return env.ENVIRONMENT === "development" && !env.STRIPE_SECRET_KEY;
}

function webhookSecret(env: Env): string {
  if (env.STRIPE_WEBHOOK_SECRET) return env.STRIPE_WEBHOOK_SECRET;
  throw new ApiError(503, "payments_not_configured", "The local test checkout signs its payments with STRIPE_WEBHOOK_SECRET: `npm run dev` writes one to .dev.vars.");
}

/**
 * Sends a Stripe event, signed with the webhook secret as Stripe signs it, to this Worker's own webhook
 * route, in process: the same verification and applying code a real delivery runs.
 */
export async function sendSignedEvent(env: Env, event: { id: string; type: string }): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(event);
  const signature = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret: webhookSecret(env), cryptoProvider });
  const res = await webhook.request("/stripe/webhook", { method: "POST", headers: { "content-type": "application/json", "stripe-signature": signature }, body: payload }, env);
  return { status: res.status, body: await res.text() };
}

/**
 * The test cards a local checkout can save, named as Stripe names its test payment methods; the local
 * auto-recharge (local-recharge.ts) charges them as Stripe's test mode would.
 */
export const TEST_CARDS = [
  { paymentMethod: "pm_card_visa", label: "Visa •••• 4242: payments succeed" },
  { paymentMethod: "pm_card_chargeDeclined", label: "Visa •••• 0002: payments are declined" },
  { paymentMethod: "pm_card_authenticationRequired", label: "Visa •••• 3184: needs its holder (3-D Secure) off-session" },
] as const;

function cardChoice(): string {
  const options = TEST_CARDS.map((t, i) => `<label style="display:block;margin:.3rem 0"><input type="radio" name="card" value="${t.paymentMethod}"${i === 0 ? " checked" : ""}> ${escape(t.label)}</label>`);
  return `<fieldset style="margin:1rem 0"><legend>Test card to save for auto-recharge</legend>${options.join("")}</fieldset>`;
}

/** A Stripe event as the local stand-ins send it. */
export function localEvent(id: string, type: string, object: Record<string, unknown>) {
  return { id, object: "event", type, api_version: Stripe.API_VERSION, created: Math.floor(Date.now() / 1000), livemode: false, data: { object } };
}

/** Ties the return URLs to the session, so the page only ever sends the buyer where the app asked. */
const returnSignature = (secret: string, id: string, success: string, cancel: string, save: string) =>
  hmacHex(secret, `return\n${id}\n${success}\n${cancel}\n${save}`);
const csrfToken = (secret: string, id: string) => hmacHex(secret, `csrf\n${id}`);

/** A local session for an offer: the same request (Idempotency-Key) finds the same session again. */
export async function createLocalCheckout(env: Env, offer: Offer, requestKey: string, origin: string): Promise<CheckoutSession> {
  const secret = webhookSecret(env);
  const id = `cs_local_${(await sha256Hex(`${offer.accountId}\n${requestKey}`)).slice(0, 24)}`;
  const now = Date.now();
  await drizzle(env.DB)
    .insert(purchases)
    .values({ id, accountId: offer.accountId, packageId: offer.packageId, credits: offer.credits, amount: offer.amount, currency: offer.currency, status: "pending", createdAt: now, updatedAt: now })
    .onConflictDoNothing();
  // The account's (stand-in) Stripe customer, as a real checkout creates one first: a card saved by
  // this checkout is kept only for the account's own customer (auto-recharge.ts saveCard).
  await drizzle(env.DB).insert(stripeCustomers).values({ accountId: offer.accountId, customerId: localCustomer(offer.accountId), createdAt: now }).onConflictDoNothing();
  const save = offer.savePaymentMethod ? "1" : "";
  const query = new URLSearchParams({ success: offer.successUrl, cancel: offer.cancelUrl, save, sig: await returnSignature(secret, id, offer.successUrl, offer.cancelUrl, save) });
  return { id, url: `${origin}${LOCAL_CHECKOUT_PATH}/${id}?${query}` };
}

const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

const escape = (text: string) => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem">
<p style="background:#fff3cd;border:1px solid #e0c25c;padding:.6rem .8rem;border-radius:6px"><strong>Test checkout</strong> — local development only. No card is charged and no money moves; paying here sends a signed test event to this Credence's Stripe webhook.</p>
${body}</body></html>`;
}

const money = (amount: number, currency: string) => `${formatMoney(amount, currency, "en-US", { style: "number" })} ${currency.toUpperCase()}`;

interface Pending {
  id: string;
  accountId: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  status: string;
}

async function checked(c: { env: Env; req: { param: (k: "id") => string } }, success: string, cancel: string, save: string, sig: string): Promise<{ secret: string; row: Pending } | null> {
  const secret = c.env.STRIPE_WEBHOOK_SECRET;
  if (!secret) return null;
  const id = c.req.param("id");
  if (!sameText(sig, await returnSignature(secret, id, success, cancel, save))) return null;
  const row = await c.env.DB.prepare(
    "SELECT id, account_id AS accountId, package_id AS packageId, credits, amount, currency, status FROM purchases WHERE id = ?",
  )
    .bind(id)
    .first<Pending>();
  return row ? { secret, row } : null;
}

export const localCheckoutPages = new Hono<AppEnv>();

// Outside development the page does not exist at all.
localCheckoutPages.use(`${LOCAL_CHECKOUT_PATH}/*`, async (c, next) => {
  if (!localCheckoutEnabled(c.env)) return c.json(errorBody("not_found", `No route ${c.req.method} ${new URL(c.req.url).pathname}.`), 404);
  await next();
});

localCheckoutPages.get(`${LOCAL_CHECKOUT_PATH}/:id`, async (c) => {
  const success = c.req.query("success") ?? "";
  const cancel = c.req.query("cancel") ?? "";
  const save = c.req.query("save") ?? "";
  const found = await checked(c, success, cancel, save, c.req.query("sig") ?? "");
  if (!found) return c.html(page("Unknown checkout", "<h1>This checkout link is not valid</h1><p>Start again from the app.</p>"), 404, SECURITY_HEADERS);
  const { row, secret } = found;
  const paid = row.status !== "pending" && row.status !== "failed";
  const form = paid
    ? `<p>This purchase is already paid.</p><p><a href="${escape(success.replaceAll("{CHECKOUT_SESSION_ID}", row.id))}">Continue</a></p>`
    : `<form method="post" action="${LOCAL_CHECKOUT_PATH}/${escape(row.id)}/pay">
<input type="hidden" name="csrf" value="${await csrfToken(secret, row.id)}"><input type="hidden" name="success" value="${escape(success)}">
<input type="hidden" name="cancel" value="${escape(cancel)}"><input type="hidden" name="sig" value="${escape(c.req.query("sig") ?? "")}">
<input type="hidden" name="save" value="${escape(save)}">${save ? cardChoice() : ""}
<button type="submit" style="font-size:1.1rem;padding:.6rem 1.4rem">Pay ${escape(money(row.amount, row.currency))} (test)</button>
<a href="${escape(cancel)}" style="margin-left:1rem">Cancel</a></form>`;
  return c.html(
    page(
      "Test checkout",
      `<h1>Buy ${escape(row.packageId)}</h1><p><strong>${row.credits}</strong> credits for account <code>${escape(row.accountId)}</code>, ${escape(money(row.amount, row.currency))}.</p>${form}`,
    ),
    200,
    SECURITY_HEADERS,
  );
});

localCheckoutPages.post(`${LOCAL_CHECKOUT_PATH}/:id/pay`, async (c) => {
  const form = await c.req.parseBody();
  const field = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : "");
  const save = field("save");
  const found = await checked(c, field("success"), field("cancel"), save, field("sig"));
  const card = TEST_CARDS.find((t) => t.paymentMethod === field("card")) ?? TEST_CARDS[0];
  if (!found || !sameText(field("csrf"), await csrfToken(found.secret, found.row.id))) {
    return c.html(page("Not paid", "<h1>This payment could not be made</h1><p>The form is out of date or was not sent from this page. Start again from the app.</p>"), 400, SECURITY_HEADERS);
  }
  const { row, secret } = found;
  // One event per session: posting "Pay" twice delivers the same event, which the webhook applies once.
  const paymentIntent = `pi_local_${row.id.slice("cs_local_".length)}`;
  const customer = localCustomer(row.accountId);
  const event = localEvent(`evt_local_${row.id}`, "checkout.session.completed", {
    id: row.id,
    object: "checkout.session",
    client_reference_id: row.accountId,
    metadata: { account_id: row.accountId, package_id: row.packageId, credits: String(row.credits) },
    amount_total: row.amount,
    currency: row.currency,
    payment_intent: paymentIntent,
    customer,
    payment_status: "paid",
    status: "complete",
  });
  const res = await sendSignedEvent(c.env, event);
  // Asked to save the card: Stripe also says its PaymentIntent succeeded with setup_future_usage, which
  // is what saves the card auto-recharge charges (auto-recharge.ts).
  const saved =
    res.status === 200 && save
      ? await sendSignedEvent(
          c.env,
          localEvent(`evt_local_${paymentIntent}`, "payment_intent.succeeded", {
            id: paymentIntent,
            object: "payment_intent",
            amount: row.amount,
            amount_received: row.amount,
            currency: row.currency,
            customer,
            payment_method: card?.paymentMethod,
            setup_future_usage: "off_session",
            status: "succeeded",
            created: Math.floor(Date.now() / 1000),
            metadata: { account_id: row.accountId, package_id: row.packageId, credits: String(row.credits) },
          }),
        )
      : res;
  if (res.status !== 200 || saved.status !== 200) {
    const refused = res.status !== 200 ? res : saved;
    return c.html(page("Not paid", `<h1>The webhook did not accept the payment</h1><p>It answered ${refused.status}: <code>${escape(refused.body)}</code></p>`), 502, SECURITY_HEADERS);
  }
  return c.redirect(field("success").replaceAll("{CHECKOUT_SESSION_ID}", row.id), 303);
});
