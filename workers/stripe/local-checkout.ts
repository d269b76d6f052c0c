// The local test checkout. On a laptop without Stripe keys (`npm run dev` sets ENVIRONMENT=development
// and a local STRIPE_WEBHOOK_SECRET in .dev.vars), checkout-sessions sends the buyer to this page
// instead of Stripe. Its "Pay" button sends a correctly signed checkout.session.completed to the real
// webhook route, so a purchase runs the same verification and crediting path as one paid on Stripe.
// In any other environment, or once a Stripe key is set, the page does not exist.

import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import Stripe from "stripe";
import { purchases } from "../db/schema";
import type { Env } from "../env";
import { hmacHex, sameText, sha256Hex } from "../http/crypto";
import { ApiError, errorBody } from "../http/errors";
import type { AppEnv } from "../http/router";
import type { CheckoutSession, Offer } from "./checkout";
import { cryptoProvider } from "./client";
import { webhook } from "./webhook";

export const LOCAL_CHECKOUT_PATH = "/checkout/local";

export function localCheckoutEnabled(env: Pick<Env, "ENVIRONMENT" | "STRIPE_SECRET_KEY">): boolean {
  return env.ENVIRONMENT === "development" && !env.STRIPE_SECRET_KEY;
}

function webhookSecret(env: Env): string {
  if (env.STRIPE_WEBHOOK_SECRET) return env.STRIPE_WEBHOOK_SECRET;
  throw new ApiError(503, "payments_not_configured", "The local test checkout signs its payments with STRIPE_WEBHOOK_SECRET: `npm run dev` writes one to .dev.vars.");
}

/** Ties the return URLs to the session, so the page only ever sends the buyer where the app asked. */
const returnSignature = (secret: string, id: string, success: string, cancel: string) => hmacHex(secret, `return\n${id}\n${success}\n${cancel}`);
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
  const query = new URLSearchParams({ success: offer.successUrl, cancel: offer.cancelUrl, sig: await returnSignature(secret, id, offer.successUrl, offer.cancelUrl) });
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

const money = (amount: number, currency: string) => `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;

interface Pending {
  id: string;
  accountId: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  status: string;
}

async function checked(c: { env: Env; req: { param: (k: "id") => string } }, success: string, cancel: string, sig: string): Promise<{ secret: string; row: Pending } | null> {
  const secret = c.env.STRIPE_WEBHOOK_SECRET;
  if (!secret) return null;
  const id = c.req.param("id");
  if (!sameText(sig, await returnSignature(secret, id, success, cancel))) return null;
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
  const found = await checked(c, success, cancel, c.req.query("sig") ?? "");
  if (!found) return c.html(page("Unknown checkout", "<h1>This checkout link is not valid</h1><p>Start again from the app.</p>"), 404, SECURITY_HEADERS);
  const { row, secret } = found;
  const paid = row.status !== "pending" && row.status !== "failed";
  const form = paid
    ? `<p>This purchase is already paid.</p><p><a href="${escape(success.replaceAll("{CHECKOUT_SESSION_ID}", row.id))}">Continue</a></p>`
    : `<form method="post" action="${LOCAL_CHECKOUT_PATH}/${escape(row.id)}/pay">
<input type="hidden" name="csrf" value="${await csrfToken(secret, row.id)}"><input type="hidden" name="success" value="${escape(success)}">
<input type="hidden" name="cancel" value="${escape(cancel)}"><input type="hidden" name="sig" value="${escape(c.req.query("sig") ?? "")}">
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
  const found = await checked(c, field("success"), field("cancel"), field("sig"));
  if (!found || !sameText(field("csrf"), await csrfToken(found.secret, found.row.id))) {
    return c.html(page("Not paid", "<h1>This payment could not be made</h1><p>The form is out of date or was not sent from this page. Start again from the app.</p>"), 400, SECURITY_HEADERS);
  }
  const { row, secret } = found;
  // One event per session: posting "Pay" twice delivers the same event, which the webhook applies once.
  const event = {
    id: `evt_local_${row.id}`,
    object: "event",
    type: "checkout.session.completed",
    api_version: Stripe.API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: {
      object: {
        id: row.id,
        object: "checkout.session",
        client_reference_id: row.accountId,
        metadata: { account_id: row.accountId, package_id: row.packageId, credits: String(row.credits) },
        amount_total: row.amount,
        currency: row.currency,
        payment_intent: `pi_local_${row.id.slice("cs_local_".length)}`,
        customer: null,
        payment_status: "paid",
        status: "complete",
      },
    },
  };
  const payload = JSON.stringify(event);
  const signature = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, cryptoProvider });
  const res = await webhook.request("/stripe/webhook", { method: "POST", headers: { "content-type": "application/json", "stripe-signature": signature }, body: payload }, c.env);
  if (res.status !== 200) {
    return c.html(page("Not paid", `<h1>The webhook did not accept the payment</h1><p>It answered ${res.status}: <code>${escape(await res.text())}</code></p>`), 502, SECURITY_HEADERS);
  }
  return c.redirect(field("success").replaceAll("{CHECKOUT_SESSION_ID}", row.id), 303);
});
