// Checkout: what an account is offered (an active package at its current price) and the Stripe
// Checkout Session that sells it. Credits never come from here: only the verified webhook credits,
// from the session's metadata (the credits promised now, whatever the package says later).
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import Stripe from "stripe";
import { packages, purchases } from "../db/schema";
import type { Env } from "../env";
import { sha256Hex } from "../http/crypto";
import { ApiError } from "../http/errors";
import { stripeClient } from "./client";
import { customerFor } from "./customers";
import { createLocalCheckout, localCheckoutEnabled } from "./local-checkout";

/** What one checkout sells: a package, as priced when the session is created. */
export interface Offer {
  accountId: string;
  packageId: string;
  credits: number;
  amount: number;
  currency: string;
  successUrl: string;
  cancelUrl: string;
  savePaymentMethod: boolean;
}

export interface CheckoutSession {
  id: string;
  url: string;
}

/** The package on sale under `packageId`: 404 package_not_found, 409 package_inactive. */
export async function packageOnSale(env: Env, packageId: string) {
  const row = await drizzle(env.DB).select().from(packages).where(eq(packages.id, packageId)).get();
  if (!row) throw new ApiError(404, "package_not_found", `No package '${packageId}'. GET /v1/packages lists those on sale.`, { package_id: packageId });
  if (!row.active) throw new ApiError(409, "package_inactive", `Package '${packageId}' is no longer on sale. GET /v1/packages lists those on sale.`, { package_id: packageId });
  return row;
}

/** `1250` with 2 decimals → "12.50 credits"; the name the buyer sees on Stripe's page and receipt. */
export function creditsLabel(credits: number, decimals: number): string {
  if (!(decimals > 0)) return `${credits} credits`;
  const scale = 10 ** decimals;
  const whole = Math.floor(credits / scale);
  const fraction = String(credits % scale).padStart(decimals, "0");
  return `${whole}.${fraction} credits`;
}

function creditDecimals(env: Env): number {
  const n = Number(env.CREDIT_DECIMALS ?? "0");
  return Number.isInteger(n) && n >= 0 && n <= 12 ? n : 0;
}

/**
 * Stripe's idempotency key for a checkout request: the same Idempotency-Key for the same account is
 * the same session at Stripe (for Stripe's 24 hours), never a second one. Hashed, so any printable key
 * fits Stripe's 255 characters.
 */
export async function checkoutIdempotencyKey(accountId: string, requestKey: string): Promise<string> {
  return `credence-checkout-${accountId}-${await sha256Hex(requestKey)}`;
}

/** The parameters of the Checkout Session for an offer. */
export function sessionParams(env: Env, offer: Offer, customer: string): Stripe.Checkout.SessionCreateParams {
  const metadata = { account_id: offer.accountId, package_id: offer.packageId, credits: String(offer.credits) };
  return {
    mode: "payment",
    customer,
    client_reference_id: offer.accountId,
    metadata,
    line_items: [
      {
        quantity: 1,
        price_data: {
          currency: offer.currency,
          unit_amount: offer.amount,
          product_data: { name: creditsLabel(offer.credits, creditDecimals(env)) },
        },
      },
    ],
    payment_intent_data: offer.savePaymentMethod ? { metadata, setup_future_usage: "off_session" } : { metadata },
    success_url: offer.successUrl,
    cancel_url: offer.cancelUrl,
  };
}

function providerError(err: unknown): never {
  if (err instanceof Stripe.errors.StripeIdempotencyError) {
    throw new ApiError(409, "idempotency_conflict", "This Idempotency-Key was already used with a different checkout request.");
  }
  if (err instanceof Stripe.errors.StripeError) {
    throw new ApiError(502, "payment_provider_error", `Stripe: ${err.message}`, { stripe_error: { type: err.type, code: err.code ?? null } });
  }
  throw err;
}

/**
 * Checkout when no Stripe key is configured: the local test checkout in development (`npm run dev`),
 * 503 everywhere else.
 */
export async function checkoutWithoutStripe(env: Env, offer: Offer, requestKey: string, origin: string): Promise<CheckoutSession> {
  if (localCheckoutEnabled(env)) return createLocalCheckout(env, offer, requestKey, origin);
  throw new ApiError(
    503,
    "payments_not_configured",
    "Payments are not configured on this deployment: set the Stripe secret key with `wrangler secret put STRIPE_SECRET_KEY` (README, \"Connecting Stripe\").",
  );
}

/**
 * Creates (or, for a retried request, finds again) the Checkout Session for an offer, and records the
 * purchase as `pending` until the webhook says it was paid. The pending row never overwrites what the
 * webhook may already have written.
 */
export async function createCheckout(env: Env, offer: Offer, requestKey: string, origin: string): Promise<CheckoutSession> {
  const stripe = stripeClient(env);
  if (!stripe) return checkoutWithoutStripe(env, offer, requestKey, origin);
  let session: Stripe.Checkout.Session;
  let customer: string;
  try {
    customer = await customerFor(env, stripe, offer.accountId);
    session = await stripe.checkout.sessions.create(sessionParams(env, offer, customer), {
      idempotencyKey: await checkoutIdempotencyKey(offer.accountId, requestKey),
    });
  } catch (err) {
    providerError(err);
  }
  if (!session.url) throw new ApiError(502, "payment_provider_error", `Stripe created checkout session '${session.id}' without a URL.`);
  const now = Date.now();
  await drizzle(env.DB)
    .insert(purchases)
    .values({
      id: session.id,
      accountId: offer.accountId,
      packageId: offer.packageId,
      credits: offer.credits,
      amount: offer.amount,
      currency: offer.currency,
      status: "pending",
      customer,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing();
  return { id: session.id, url: session.url };
}
